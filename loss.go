package ddpm

import (
	"fmt"
	"math"
	"math/rand/v2"

	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // Graph code reads as math.
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Losses holds the per-example training losses, each shaped [B].
type Losses struct {
	// Loss is what training minimises, according to Diffusion.Loss.
	Loss *Node
	// MSE is the mean squared error of the prediction against its target
	// (nil for the VLB loss).
	MSE *Node
	// VB is the bound term L_t in bits/dim (nil for the Simple loss).
	VB *Node
}

// TrainingLosses noises x0 to x_t with the given noise, runs the denoiser and
// returns the losses of Diffusion.Loss:
//
//   - Simple: MSE = mean((target - prediction)^2) over all but the batch axis,
//     times MSEWeights()[t] when MinSNRGamma is set.
//   - VLB: VB = L_t (KL for t > 0, decoder NLL for t = 0), in bits/dim.
//   - Hybrid: MSE + HybridLambda * T * VB, where VB is computed with the
//     predicted mean held fixed (stop-gradient), so it trains the variance.
//
// Shapes: x0 and noise [B, H, W, C] in [-1, 1]; t int32 [B] in [0, T).
func (d *Diffusion) TrainingLosses(ctx *context.Context, denoiser Denoiser, x0, t, noise *Node) Losses {
	checkXT("ddpm.TrainingLosses", x0, t)
	checkSame("ddpm.TrainingLosses", "x0", "noise", x0, noise)
	xt := d.QSample(x0, t, noise)
	out := d.Model(ctx, denoiser, xt, t)
	pred, varValues := d.SplitOutput(out, xt)

	var l Losses
	if d.Loss == Simple || d.Loss == Hybrid {
		l.MSE = meanFlat(Square(Sub(d.Target(x0, xt, t, noise), pred)))
		if d.MinSNRGamma > 0 {
			l.MSE = Mul(l.MSE, Reshape(Coef(d.MSEWeights(), t, x0), x0.Shape().Dimensions[0]))
		}
	}
	if d.Loss == VLB || d.Loss == Hybrid {
		boundPred := pred
		if d.Loss == Hybrid {
			// The bound must not pull on the mean: only the variance learns from it.
			boundPred = StopGradient(pred)
		}
		l.VB = d.VLBTerm(d.pMeanVarianceSplit(boundPred, varValues, xt, t, false), x0, xt, t)
	}
	switch d.Loss {
	case Simple:
		l.Loss = l.MSE
	case VLB:
		l.Loss = l.VB
	case Hybrid:
		l.Loss = Add(l.MSE, MulScalar(l.VB, d.HybridLambda*float64(d.Schedule.T)))
	default:
		panicf("ddpm: unknown loss %v", d.Loss)
	}
	return l
}

// TimestepSampler draws the timesteps of a training batch, with importance
// weights that keep the loss an unbiased estimate of the uniform average.
type TimestepSampler interface {
	// Sample returns batch timesteps in [0, T) and their weights.
	Sample(rng *rand.Rand, batch int) (t []int32, weights []float32)
	// Update records the per-example losses observed at the given timesteps.
	Update(t []int32, losses []float32)
}

// UniformSampler draws t uniformly; every weight is 1.
type UniformSampler struct{ T int }

// Sample implements TimestepSampler.
func (u UniformSampler) Sample(rng *rand.Rand, batch int) ([]int32, []float32) {
	t := make([]int32, batch)
	w := make([]float32, batch)
	for i := range t {
		t[i] = int32(rng.IntN(u.T))
		w[i] = 1
	}
	return t, w
}

// Update implements TimestepSampler; the uniform sampler learns nothing.
func (UniformSampler) Update([]int32, []float32) {}

// LossAwareSampler is improved-diffusion's LossSecondMomentResampler: once
// every t has HistoryPerTerm recorded losses, t is drawn with probability
// proportional to sqrt(E[L_t^2]), mixed with UniformProb of the uniform
// distribution; weights are 1 / (T p_t). Until then it draws uniformly.
type LossAwareSampler struct {
	T              int
	HistoryPerTerm int     // Losses remembered per t (improved-diffusion: 10).
	UniformProb    float64 // Uniform mixing (improved-diffusion: 0.001).

	history [][]float64 // Ring buffers of the last losses per t.
	next    []int       // Next slot of each ring buffer.
	count   []int       // Losses recorded per t, capped at HistoryPerTerm.
}

// NewLossAwareSampler returns a LossAwareSampler with improved-diffusion's settings.
func NewLossAwareSampler(T int) *LossAwareSampler {
	return &LossAwareSampler{T: T, HistoryPerTerm: 10, UniformProb: 0.001}
}

func (s *LossAwareSampler) init() {
	if s.history == nil {
		s.history = make([][]float64, s.T)
		for i := range s.history {
			s.history[i] = make([]float64, s.HistoryPerTerm)
		}
		s.next = make([]int, s.T)
		s.count = make([]int, s.T)
	}
}

// warmedUp reports whether every timestep has a full history.
func (s *LossAwareSampler) warmedUp() bool {
	for _, c := range s.count {
		if c < s.HistoryPerTerm {
			return false
		}
	}
	return true
}

// Probabilities returns the current distribution over timesteps.
func (s *LossAwareSampler) Probabilities() []float64 {
	s.init()
	p := make([]float64, s.T)
	if !s.warmedUp() {
		for i := range p {
			p[i] = 1 / float64(s.T)
		}
		return p
	}
	sum := 0.0
	for i, h := range s.history {
		sq := 0.0
		for _, v := range h {
			sq += v * v
		}
		p[i] = math.Sqrt(sq / float64(len(h)))
		sum += p[i]
	}
	for i := range p {
		p[i] = p[i]/sum*(1-s.UniformProb) + s.UniformProb/float64(s.T)
	}
	return p
}

// Sample implements TimestepSampler.
func (s *LossAwareSampler) Sample(rng *rand.Rand, batch int) ([]int32, []float32) {
	p := s.Probabilities()
	cdf := make([]float64, len(p))
	acc := 0.0
	for i, v := range p {
		acc += v
		cdf[i] = acc
	}
	t := make([]int32, batch)
	w := make([]float32, batch)
	for i := range t {
		u := rng.Float64() * acc
		k := 0
		for k < len(cdf)-1 && cdf[k] <= u {
			k++
		}
		t[i] = int32(k)
		w[i] = float32(1 / (float64(s.T) * p[k]))
	}
	return t, w
}

// Update implements TimestepSampler. Losses must be finite.
func (s *LossAwareSampler) Update(t []int32, losses []float32) {
	s.init()
	for i, ti := range t {
		k := int(ti)
		if k < 0 || k >= s.T || math.IsNaN(float64(losses[i])) || math.IsInf(float64(losses[i]), 0) {
			continue
		}
		s.history[k][s.next[k]] = float64(losses[i])
		s.next[k] = (s.next[k] + 1) % s.HistoryPerTerm
		if s.count[k] < s.HistoryPerTerm {
			s.count[k]++
		}
	}
}

// TimestepSamplerKind names a TimestepSampler for configuration.
type TimestepSamplerKind int

const (
	// UniformTimesteps draws t uniformly (the paper's choice).
	UniformTimesteps TimestepSamplerKind = iota
	// LossAwareTimesteps draws t by importance (improved-diffusion's loss-second-moment).
	LossAwareTimesteps
)

var timestepSamplerNames = []string{"uniform", "loss-second-moment"}

// String returns the name accepted by ParseTimestepSamplerKind.
func (k TimestepSamplerKind) String() string {
	return enumName(timestepSamplerNames, int(k), "TimestepSamplerKind")
}

// ParseTimestepSamplerKind returns the kind with the given name.
func ParseTimestepSamplerKind(name string) (TimestepSamplerKind, error) {
	i, err := parseEnum("timestep sampler", timestepSamplerNames, name)
	return TimestepSamplerKind(i), err
}

// NewTimestepSampler returns a sampler of the given kind over T steps.
func NewTimestepSampler(kind TimestepSamplerKind, T int) (TimestepSampler, error) {
	if T < 1 {
		return nil, fmt.Errorf("timestep sampler over T=%d steps: T must be at least 1", T)
	}
	switch kind {
	case UniformTimesteps:
		return UniformSampler{T: T}, nil
	case LossAwareTimesteps:
		return NewLossAwareSampler(T), nil
	}
	return nil, fmt.Errorf("unknown timestep sampler %v: valid values are uniform, loss-second-moment", kind)
}

// MarshalText implements encoding.TextMarshaler.
func (k TimestepSamplerKind) MarshalText() ([]byte, error) { return []byte(k.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (k *TimestepSamplerKind) UnmarshalText(b []byte) (err error) {
	*k, err = ParseTimestepSamplerKind(string(b))
	return
}

// Set implements flag.Value.
func (k *TimestepSamplerKind) Set(name string) error { return k.UnmarshalText([]byte(name)) }

// LossAwareState is the history of a LossAwareSampler, for checkpoints.
type LossAwareState struct {
	History [][]float64 `json:"history"`
	Next    []int       `json:"next"`
	Count   []int       `json:"count"`
}

// State returns a copy of the sampler's history.
func (s *LossAwareSampler) State() LossAwareState {
	s.init()
	st := LossAwareState{Next: append([]int(nil), s.next...), Count: append([]int(nil), s.count...)}
	for _, h := range s.history {
		st.History = append(st.History, append([]float64(nil), h...))
	}
	return st
}

// SetState restores a history saved by State.
func (s *LossAwareSampler) SetState(st LossAwareState) error {
	if len(st.History) != s.T || len(st.Next) != s.T || len(st.Count) != s.T {
		return fmt.Errorf("loss-aware sampler state for %d timesteps, want %d", len(st.History), s.T)
	}
	for _, h := range st.History {
		if len(h) != s.HistoryPerTerm {
			return fmt.Errorf("loss-aware sampler state keeps %d losses per timestep, want %d", len(h), s.HistoryPerTerm)
		}
	}
	s.history, s.next, s.count = st.History, st.Next, st.Count
	return nil
}
