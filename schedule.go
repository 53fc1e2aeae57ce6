package ddpm

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
)

// BetaSchedule names a noise schedule. A named schedule, once released, never
// changes, so that checkpoints trained with it stay valid.
type BetaSchedule int

const (
	// Linear is the paper's schedule: betas linearly spaced from 1e-4 to 0.02
	// for T = 1000. For another T both ends are scaled by 1000/T, as in
	// improved-diffusion, so that the total amount of noise stays comparable;
	// the last beta, 20/T, is then below 1 only for T > 20.
	Linear BetaSchedule = iota
	// Cosine is the schedule of Nichol & Dhariwal (2021):
	// abar(t) = cos^2(((t/T) + 0.008) / 1.008 * pi/2), betas clipped at 0.999.
	Cosine
	// Quadratic is linspace(sqrt(1e-4), sqrt(0.02), T)^2, as in the official
	// DDPM code (no scaling with T).
	Quadratic
)

var betaScheduleNames = []string{"linear", "cosine", "quadratic"}

// String returns the schedule's name, as accepted by ParseBetaSchedule.
func (b BetaSchedule) String() string {
	if b < 0 || int(b) >= len(betaScheduleNames) {
		return fmt.Sprintf("BetaSchedule(%d)", int(b))
	}
	return betaScheduleNames[b]
}

// ParseBetaSchedule returns the schedule with the given name (case-insensitive).
func ParseBetaSchedule(name string) (BetaSchedule, error) {
	i := slices.Index(betaScheduleNames, strings.ToLower(strings.TrimSpace(name)))
	if i < 0 {
		return 0, fmt.Errorf("unknown beta schedule %q: valid names are %s", name, strings.Join(betaScheduleNames, ", "))
	}
	return BetaSchedule(i), nil
}

// Set implements flag.Value, so a BetaSchedule can be a command-line flag.
func (b *BetaSchedule) Set(name string) error {
	v, err := ParseBetaSchedule(name)
	if err != nil {
		return err
	}
	*b = v
	return nil
}

// MarshalText implements encoding.TextMarshaler (JSON configs store the name).
func (b BetaSchedule) MarshalText() ([]byte, error) { return []byte(b.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (b *BetaSchedule) UnmarshalText(text []byte) error { return b.Set(string(text)) }

// Schedule holds the coefficient tables of a diffusion process, computed once
// on the host in float64. Each table has length T and is indexed by the
// 0-based timestep t; each is named after its formula, as in the official
// implementation.
type Schedule struct {
	// T is the number of diffusion steps.
	T int

	Betas                     []float64 // beta_t
	Alphas                    []float64 // 1 - beta_t
	AlphasCumprod             []float64 // abar_t = prod_{s<=t} alpha_s
	AlphasCumprodPrev         []float64 // abar_{t-1}, with abar_{-1} = 1
	SqrtAlphasCumprod         []float64 // sqrt(abar_t)
	SqrtOneMinusAlphasCumprod []float64 // sqrt(1 - abar_t)
	LogOneMinusAlphasCumprod  []float64 // log(1 - abar_t)
	SqrtRecipAlphasCumprod    []float64 // 1 / sqrt(abar_t)
	SqrtRecipm1AlphasCumprod  []float64 // sqrt(1/abar_t - 1)

	// PosteriorVariance is betatilde_t = beta_t (1 - abar_{t-1}) / (1 - abar_t),
	// the variance of q(x_{t-1} | x_t, x_0). It is 0 at t = 0.
	PosteriorVariance []float64
	// PosteriorLogVarianceClipped is log(betatilde_t) with the t = 0 entry
	// replaced by the t = 1 entry, since betatilde_0 = 0. For T = 1 there is no
	// t = 1 entry and log(beta_0) is used instead.
	PosteriorLogVarianceClipped []float64
	// PosteriorMeanCoef1 is beta_t sqrt(abar_{t-1}) / (1 - abar_t), the weight of x_0.
	PosteriorMeanCoef1 []float64
	// PosteriorMeanCoef2 is (1 - abar_{t-1}) sqrt(alpha_t) / (1 - abar_t), the weight of x_t.
	PosteriorMeanCoef2 []float64

	// Timesteps maps each t of this schedule to the timestep of the schedule it
	// was respaced from. For a schedule that was not respaced it is 0..T-1.
	// A network trained on the original schedule is fed Timesteps[t].
	Timesteps []int
}

// MaxT bounds the number of diffusion steps (the paper uses 1000; 4000 is
// the most in common use), so that a mistyped T is an error, not an
// allocation that exhausts memory.
const MaxT = 1 << 20

// NewSchedule returns the named schedule with T steps.
func NewSchedule(kind BetaSchedule, T int) (*Schedule, error) {
	if T < 1 || T > MaxT {
		return nil, fmt.Errorf("number of diffusion steps T=%d: must lie in [1, %d]", T, MaxT)
	}
	betas := make([]float64, T)
	switch kind {
	case Linear:
		scale := 1000 / float64(T)
		linspace(betas, scale*1e-4, scale*0.02)
	case Quadratic:
		linspace(betas, math.Sqrt(1e-4), math.Sqrt(0.02))
		for i, b := range betas {
			betas[i] = b * b
		}
	case Cosine:
		alphaBar := func(u float64) float64 {
			c := math.Cos((u + 0.008) / 1.008 * math.Pi / 2)
			return c * c
		}
		for i := range betas {
			t1, t2 := float64(i)/float64(T), float64(i+1)/float64(T)
			betas[i] = math.Min(1-alphaBar(t2)/alphaBar(t1), 0.999)
		}
	default:
		return nil, fmt.Errorf("unknown beta schedule %v: valid names are %s", kind, strings.Join(betaScheduleNames, ", "))
	}
	s, err := NewScheduleFromBetas(betas)
	if err != nil {
		return nil, fmt.Errorf("%v schedule with T=%d: %w", kind, T, err)
	}
	return s, nil
}

// linspace fills dst with len(dst) evenly spaced values from start to end
// inclusive, as numpy.linspace does.
func linspace(dst []float64, start, end float64) {
	n := len(dst)
	if n == 1 {
		dst[0] = start
		return
	}
	step := (end - start) / float64(n-1)
	for i := range dst {
		dst[i] = start + float64(i)*step
	}
	dst[n-1] = end
}

// NewScheduleFromBetas builds a schedule from explicit betas, each in (0, 1).
// The slice is copied.
func NewScheduleFromBetas(betas []float64) (*Schedule, error) {
	T := len(betas)
	if T < 1 {
		return nil, fmt.Errorf("no betas given: a schedule needs at least one step")
	}
	for t, b := range betas {
		if !(b > 0 && b < 1) { // Also catches NaN.
			return nil, fmt.Errorf("beta[%d]=%g: every beta must lie in the open interval (0, 1)", t, b)
		}
	}
	s := &Schedule{T: T, Betas: slices.Clone(betas)}
	s.Alphas = make([]float64, T)
	s.AlphasCumprod = make([]float64, T)
	s.AlphasCumprodPrev = make([]float64, T)
	prod := 1.0
	for t, b := range betas {
		s.Alphas[t] = 1 - b
		s.AlphasCumprodPrev[t] = prod
		prod *= 1 - b
		s.AlphasCumprod[t] = prod
	}
	table := func(f func(t int) float64) []float64 {
		out := make([]float64, T)
		for t := range out {
			out[t] = f(t)
		}
		return out
	}
	ac, acp := s.AlphasCumprod, s.AlphasCumprodPrev
	s.SqrtAlphasCumprod = table(func(t int) float64 { return math.Sqrt(ac[t]) })
	s.SqrtOneMinusAlphasCumprod = table(func(t int) float64 { return math.Sqrt(1 - ac[t]) })
	s.LogOneMinusAlphasCumprod = table(func(t int) float64 { return math.Log(1 - ac[t]) })
	s.SqrtRecipAlphasCumprod = table(func(t int) float64 { return math.Sqrt(1 / ac[t]) })
	s.SqrtRecipm1AlphasCumprod = table(func(t int) float64 { return math.Sqrt(1/ac[t] - 1) })
	s.PosteriorVariance = table(func(t int) float64 { return betas[t] * (1 - acp[t]) / (1 - ac[t]) })
	s.PosteriorLogVarianceClipped = table(func(t int) float64 {
		switch {
		case t > 0:
			return math.Log(s.PosteriorVariance[t])
		case T > 1:
			return math.Log(s.PosteriorVariance[1])
		default:
			return math.Log(betas[0])
		}
	})
	s.PosteriorMeanCoef1 = table(func(t int) float64 { return betas[t] * math.Sqrt(acp[t]) / (1 - ac[t]) })
	s.PosteriorMeanCoef2 = table(func(t int) float64 { return (1 - acp[t]) * math.Sqrt(s.Alphas[t]) / (1 - ac[t]) })
	s.Timesteps = make([]int, T)
	for t := range s.Timesteps {
		s.Timesteps[t] = t
	}
	return s, nil
}

// FixedLargeLogVariance returns log(sigma_t^2) for the "fixed large" reverse
// variance sigma_t^2 = beta_t, with the t = 0 entry replaced by betatilde_1,
// as the official implementation does (np.append(posterior_variance[1],
// betas[1:])). For T = 1 it is log(beta_0).
func (s *Schedule) FixedLargeLogVariance() []float64 {
	out := make([]float64, s.T)
	for t := range out {
		out[t] = math.Log(s.Betas[t])
	}
	if s.T > 1 {
		out[0] = math.Log(s.PosteriorVariance[1])
	}
	return out
}

// Respace returns the schedule that visits only the given timesteps of s,
// in increasing order, as in improved-diffusion's respacing: the new betas are
// 1 - abar[t_i] / abar[t_{i-1}], so that the new schedule's abar at step i
// equals the original abar at t_i. Timesteps of the result maps back to the
// timesteps of the schedule s was built from.
func (s *Schedule) Respace(use []int) (*Schedule, error) {
	if len(use) == 0 {
		return nil, fmt.Errorf("respacing needs at least one timestep")
	}
	keep := slices.Clone(use)
	slices.Sort(keep)
	keep = slices.Compact(keep)
	if len(keep) != len(use) {
		return nil, fmt.Errorf("respacing timesteps %v contain duplicates", use)
	}
	if keep[0] < 0 || keep[len(keep)-1] >= s.T {
		return nil, fmt.Errorf("respacing timesteps must lie in [0, %d), got %d..%d", s.T, keep[0], keep[len(keep)-1])
	}
	betas := make([]float64, len(keep))
	last := 1.0
	for i, t := range keep {
		betas[i] = 1 - s.AlphasCumprod[t]/last
		last = s.AlphasCumprod[t]
	}
	r, err := NewScheduleFromBetas(betas)
	if err != nil {
		return nil, fmt.Errorf("respacing to %d steps: %w", len(keep), err)
	}
	for i, t := range keep {
		r.Timesteps[i] = s.Timesteps[t]
	}
	return r, nil
}

// SpacedTimesteps chooses which of T timesteps to keep, following
// improved-diffusion's space_timesteps. The spec is either "ddimN", N steps
// evenly strided from 0 (DDIM's choice; N must divide into T with an integer
// stride), or a comma-separated list of counts: T is cut into that many equal
// sections and each section keeps that many evenly spaced steps (including
// both of its ends). "50" keeps 50 steps out of T; "10,15,20" keeps 45.
func SpacedTimesteps(T int, spec string) ([]int, error) {
	if T < 1 {
		return nil, fmt.Errorf("number of diffusion steps T=%d: must be at least 1", T)
	}
	spec = strings.TrimSpace(spec)
	if rest, ok := strings.CutPrefix(spec, "ddim"); ok {
		n, err := strconv.Atoi(rest)
		if err != nil || n < 1 || n > T {
			return nil, fmt.Errorf("timestep spacing %q: want ddimN with 1 <= N <= T=%d", spec, T)
		}
		for stride := 1; stride <= T; stride++ {
			if (T+stride-1)/stride == n { // len(range(0, T, stride)) == n
				out := make([]int, 0, n)
				for t := 0; t < T; t += stride {
					out = append(out, t)
				}
				return out, nil
			}
		}
		return nil, fmt.Errorf("timestep spacing %q: no integer stride gives exactly %d of %d steps", spec, n, T)
	}
	var counts []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 0 {
			return nil, fmt.Errorf("timestep spacing %q: want ddimN or comma-separated non-negative counts", spec)
		}
		counts = append(counts, n)
	}
	sizePer, extra := T/len(counts), T%len(counts)
	if sizePer == 0 {
		return nil, fmt.Errorf("timestep spacing %q: %d sections do not fit in T=%d", spec, len(counts), T)
	}
	var out []int
	start := 0
	for i, n := range counts {
		size := sizePer
		if i < extra {
			size++
		}
		if n > size {
			return nil, fmt.Errorf("timestep spacing %q: cannot take %d steps from a section of %d", spec, n, size)
		}
		if n > 0 {
			stride := 0.0
			if n > 1 {
				stride = float64(size-1) / float64(n-1)
			}
			cur := 0.0
			for range n {
				out = append(out, start+int(math.RoundToEven(cur))) // Python's round().
				cur += stride
			}
		}
		start += size
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("timestep spacing %q keeps no step", spec)
	}
	return out, nil
}
