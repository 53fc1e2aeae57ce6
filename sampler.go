package ddpm

import (
	"fmt"
	"strings"
	"sync"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // Graph code reads as math.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Method is a sampling method.
type Method int

const (
	// Ancestral is the paper's Algorithm 2: x_{t-1} ~ p(x_{t-1} | x_t).
	Ancestral Method = iota
	// DDIM is Song et al.'s sampler with parameter Eta (0 is deterministic).
	DDIM
	// DPMSolver is DPM-Solver++(2M) (Lu et al. 2022): the multistep
	// second-order solver of the probability-flow ODE in its data-prediction
	// form. Steps counts network evaluations; good samples in 10-20.
	DPMSolver
	// Heun is the deterministic second-order sampler of Karras et al. (2022,
	// Algorithm 1): K timesteps cost 2K-1 network evaluations (Steps), an
	// even count uses one less.
	Heun
	// DPMSolverSDE is DPM-Solver++(2M) for the reverse SDE (Lu et al. 2022,
	// as k-diffusion's sample_dpmpp_2m_sde with eta 1 and the midpoint
	// correction): each step is the DDPM posterior step from the predicted
	// x_0, with the same second-order extrapolation of the predictions as
	// DPMSolver, and fresh noise. Steps counts network evaluations.
	DPMSolverSDE
)

var methodNames = []string{"ddpm", "ddim", "dpm-solver++", "heun", "dpm-solver++-sde"}

// String returns the name accepted by ParseMethod.
func (m Method) String() string { return enumName(methodNames, int(m), "Method") }

// ParseMethod returns the Method with the given name ("ddpm" for ancestral sampling).
func ParseMethod(name string) (Method, error) {
	i, err := parseEnum("sampling method", methodNames, name)
	return Method(i), err
}

// Set implements flag.Value.
func (m *Method) Set(name string) (err error) { *m, err = ParseMethod(name); return }

// SampleOptions configures one sampling run. The zero value is the paper's
// sampler over all T steps with seed 0.
type SampleOptions struct {
	Method Method
	// Eta is DDIM's eta: 0 gives the deterministic sampler, 1 the DDPM-like
	// one. Only DDIM uses it.
	Eta float64
	// Steps respaces the schedule for Ancestral and DDIM (see
	// SpacedTimesteps): "" keeps all T steps, "50" keeps 50 evenly spaced
	// steps, "ddim50" DDIM's strided 50. For the ODE solvers (DPMSolver,
	// Heun) it is the number of network evaluations, "" for
	// DefaultSolverSteps.
	Steps string
	// Spacing places an ODE solver's timesteps (MethodSpacing: the
	// method's own). Only the solvers use it.
	Spacing Spacing
	// ClipX0 clips the predicted x_0 to [-1, 1] at every step (for the ODE
	// solvers, every prediction they combine).
	ClipX0 bool
	// Seed fixes the randomness: the same seed on the same backend gives the same images.
	Seed int64
	// Noise, when set, is x_T (shaped like the output) instead of one drawn from Seed.
	Noise *tensors.Tensor
	// Capture lists the timesteps (of the original schedule) at which x_t and
	// the predicted x_0 are kept for Result.Snapshots. With respacing, a
	// requested t that is skipped is captured at the next visited step below it.
	Capture []int
	// Progress, if set, is called after each step with the number done and
	// the number of steps.
	Progress func(done, total int)
}

// Snapshot is the state of the reverse process at one step.
type Snapshot struct {
	T      int             // Timestep of the original schedule; x is x_t before the step.
	XT     *tensors.Tensor // x_t
	PredX0 *tensors.Tensor // the model's prediction of x_0 at this step
}

// Result of a sampling run.
type Result struct {
	Images    *tensors.Tensor // [B, H, W, C], x_0 (not clipped unless ClipX0)
	Snapshots []Snapshot      // in the order visited (decreasing t)
}

// Sampler runs the reverse process with a denoiser. Each sampler is a Go
// loop around one compiled step (compiled once per method, eta, clipping and
// respacing, then reused); the loop never unrolls T steps into a graph.
type Sampler struct {
	Backend   backends.Backend
	Context   *context.Context
	Diffusion *Diffusion
	Denoiser  Denoiser

	mu    sync.Mutex
	steps map[string]*context.Exec
	diffs map[string]*Diffusion
}

// NewSampler returns a Sampler. ctx holds the denoiser's variables (nil for a
// denoiser without any).
func NewSampler(backend backends.Backend, ctx *context.Context, d *Diffusion, denoiser Denoiser) *Sampler {
	if ctx == nil {
		ctx = context.New()
	}
	return &Sampler{Backend: backend, Context: ctx, Diffusion: d, Denoiser: denoiser,
		steps: map[string]*context.Exec{}, diffs: map[string]*Diffusion{}}
}

// diffusionFor returns the (possibly respaced) diffusion that opts ask for.
func (s *Sampler) diffusionFor(steps string) (*Diffusion, error) {
	steps = strings.TrimSpace(steps)
	if steps == "" {
		return s.Diffusion, nil
	}
	if d, ok := s.diffs[steps]; ok {
		return d, nil
	}
	use, err := SpacedTimesteps(s.Diffusion.Schedule.T, steps)
	if err != nil {
		return nil, err
	}
	d, err := s.Diffusion.Respaced(use)
	if err != nil {
		return nil, err
	}
	s.diffs[steps] = d
	return d, nil
}

// stepExec returns the compiled step (x_t, t, rng) -> (x_{t-1}, predX0, rng).
func (s *Sampler) stepExec(d *Diffusion, opts SampleOptions) (*context.Exec, error) {
	key := fmt.Sprintf("%s|%v|%g|%v", opts.Steps, opts.Method, opts.Eta, opts.ClipX0)
	if e, ok := s.steps[key]; ok {
		return e, nil
	}
	method, eta, clip := opts.Method, opts.Eta, opts.ClipX0
	e, err := context.NewExec(s.Backend, s.Context.Reuse(), func(ctx *context.Context, xt, t, rng *Node) (*Node, *Node, *Node) {
		var next, x0 *Node
		switch method {
		case Ancestral:
			next, x0, rng = d.PSampleStep(ctx, s.Denoiser, xt, t, rng, clip)
		case DDIM:
			next, x0, rng = d.DDIMStep(ctx, s.Denoiser, xt, t, rng, eta, clip)
		default:
			panicf("unknown sampling method %v", method)
		}
		return next, x0, rng
	})
	if err != nil {
		return nil, err
	}
	s.steps[key] = e
	return e, nil
}

// batchT broadcasts a scalar int32 timestep to [B].
func batchT(t *Node, B int) *Node { return BroadcastToDims(t, B) }

// notFirst is 1 where t != 0 and 0 at t = 0, in x's dtype: no noise is added
// at the last step of the reverse process.
func notFirst(t, x *Node) *Node {
	return ConvertDType(NotEqual(t, ZerosLike(t)), x.DType())
}

// PSampleStep is one step of ancestral sampling (the paper's Algorithm 2,
// line 4): x_{t-1} = mu_theta(x_t, t) + sigma_t z, z ~ N(0, I), no noise at t = 0.
//
// Shapes: xt [B, ...]; t int32 scalar; rng the RNG state. Returns x_{t-1},
// the predicted x_0 and the new RNG state.
func (d *Diffusion) PSampleStep(ctx *context.Context, denoiser Denoiser, xt, t, rng *Node, clipX0 bool) (next, predX0, newRNG *Node) {
	tb := batchT(t, xt.Shape().Dimensions[0])
	p := d.PMeanVariance(d.Model(ctx, denoiser, xt, tb), xt, tb, clipX0)
	newRNG, z := RandomNormal(rng, xt.Shape())
	next = Add(p.Mean, Mul(notFirst(t, xt), Mul(Exp(MulScalar(p.LogVariance, 0.5)), z)))
	return next, p.PredX0, newRNG
}

// DDIMStep is one step of DDIM (Song et al. 2021, eq. 12):
//
//	sigma = eta sqrt((1 - abar_{t-1}) / (1 - abar_t)) sqrt(1 - abar_t / abar_{t-1})
//	x_{t-1} = sqrt(abar_{t-1}) x0_pred + sqrt(1 - abar_{t-1} - sigma^2) eps_pred + sigma z
//
// with no noise at t = 0. Shapes as PSampleStep.
func (d *Diffusion) DDIMStep(ctx *context.Context, denoiser Denoiser, xt, t, rng *Node, eta float64, clipX0 bool) (next, predX0, newRNG *Node) {
	tb := batchT(t, xt.Shape().Dimensions[0])
	p := d.PMeanVariance(d.Model(ctx, denoiser, xt, tb), xt, tb, clipX0)
	s := d.Schedule
	abar, abarPrev := Coef(s.AlphasCumprod, tb, xt), Coef(s.AlphasCumprodPrev, tb, xt)
	sigma := MulScalar(Sqrt(Mul(Div(OneMinus(abarPrev), OneMinus(abar)), OneMinus(Div(abar, abarPrev)))), eta)
	meanPred := Add(Mul(Sqrt(abarPrev), p.PredX0), Mul(Sqrt(MaxScalar(Sub(OneMinus(abarPrev), Square(sigma)), 0)), p.PredEps))
	newRNG, z := RandomNormal(rng, xt.Shape())
	next = Add(meanPred, Mul(notFirst(t, xt), Mul(sigma, z)))
	return next, p.PredX0, newRNG
}

// Sample draws images shaped [B, H, W, C] (the shape of opts.Noise if set).
func (s *Sampler) Sample(shape []int, opts SampleOptions) (*Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := opts.Validate(s.Diffusion.Schedule.T); err != nil {
		return nil, err
	}
	if opts.Method.solver() {
		x, rng, err := s.initialNoise(shape, opts)
		if err != nil {
			return nil, err
		}
		return s.solve(x, rng, s.Diffusion.Schedule.T-1, opts)
	}
	d, err := s.diffusionFor(opts.Steps)
	if err != nil {
		return nil, err
	}
	x, rng, err := s.initialNoise(shape, opts)
	if err != nil {
		return nil, err
	}
	return s.loop(d, x, rng, d.Schedule.T-1, opts)
}

// Describe names the sampler as reports print it, e.g. "ddim, ddim50 steps,
// eta 0" or "dpm-solver++, 20 evaluations, logsnr spacing", for a model
// trained with T steps.
func (o SampleOptions) Describe(T int) string {
	steps := strings.TrimSpace(o.Steps)
	if o.Method.solver() {
		if steps == "" {
			steps = fmt.Sprint(min(DefaultSolverSteps, T))
		}
		sp := o.Spacing
		if sp == MethodSpacing {
			sp = o.Method.defaultSpacing()
		}
		return fmt.Sprintf("%v, %s evaluations, %v spacing", o.Method, steps, sp)
	}
	if steps == "" {
		steps = fmt.Sprint(T)
	}
	name := fmt.Sprintf("%v, %s steps", o.Method, steps)
	if o.Method == DDIM {
		name += fmt.Sprintf(", eta %g", o.Eta)
	}
	return name
}

// Validate checks the options that do not depend on the images, for a
// model trained with T steps: the method, eta in [0, 1] for DDIM only, the
// steps, and a spacing for the ODE solvers only. Sample and Interpolate call
// it; programs can call it before any work starts.
func (o SampleOptions) Validate(T int) error {
	if o.Method < Ancestral || o.Method > DPMSolverSDE {
		return fmt.Errorf("unknown sampling method %v: valid names are %s", o.Method, strings.Join(methodNames, ", "))
	}
	if o.Method != DDIM && o.Eta != 0 {
		return fmt.Errorf("eta %g applies to DDIM only, not to sampling method %v", o.Eta, o.Method)
	}
	if !(o.Eta >= 0 && o.Eta <= 1) {
		return fmt.Errorf("DDIM's eta %g: must lie in [0, 1]", o.Eta)
	}
	if o.Spacing < MethodSpacing || o.Spacing > Karras {
		return fmt.Errorf("unknown solver spacing %v: valid names are %s", o.Spacing, strings.Join(spacingNames, ", "))
	}
	if o.Method.solver() {
		_, err := solverSteps(o.Method, o.Steps, T)
		return err
	}
	if o.Spacing != MethodSpacing {
		return fmt.Errorf("spacing %v applies to the solvers (dpm-solver++, heun, dpm-solver++-sde), not to sampling method %v", o.Spacing, o.Method)
	}
	return nil
}

// initialNoise returns x_T (drawn from the seed unless given) and the RNG state.
func (s *Sampler) initialNoise(shape []int, opts SampleOptions) (*tensors.Tensor, *tensors.Tensor, error) {
	rng, err := RNGStateFromSeed(opts.Seed)
	if err != nil {
		return nil, nil, err
	}
	if opts.Noise != nil {
		if shape != nil && !shapes.Make(opts.Noise.DType(), shape...).Equal(opts.Noise.Shape()) {
			return nil, nil, fmt.Errorf("sampling: noise shaped %s does not match the requested shape %v", opts.Noise.Shape(), shape)
		}
		return opts.Noise, rng, nil
	}
	if err := checkImageShape(shape); err != nil {
		return nil, nil, err
	}
	out, err := execOnce(s.Backend, func(rng *Node) []*Node {
		rng, z := RandomNormal(rng, shapes.Make(dtypes.Float32, shape...))
		return []*Node{z, rng}
	}, rng)
	if err != nil {
		return nil, nil, err
	}
	return out[0], out[1], nil
}

func checkImageShape(shape []int) error {
	if len(shape) < 2 {
		return fmt.Errorf("sampling: shape %v must be [B, ...] with at least one data axis", shape)
	}
	for _, n := range shape {
		if n < 1 {
			return fmt.Errorf("sampling: shape %v has a dimension below 1", shape)
		}
	}
	return nil
}

// loop runs the reverse process from schedule index start down to 0.
func (s *Sampler) loop(d *Diffusion, x, rng *tensors.Tensor, start int, opts SampleOptions) (*Result, error) {
	step, err := s.stepExec(d, opts)
	if err != nil {
		return nil, err
	}
	capture, err := captureSet(d.Schedule, opts.Capture, s.Diffusion.Schedule.T)
	if err != nil {
		return nil, err
	}
	res := &Result{}
	for i := start; i >= 0; i-- {
		out, err := step.Exec(x, int32(i), rng)
		if err != nil {
			return nil, fmt.Errorf("sampling step t=%d: %w", d.Schedule.Timesteps[i], err)
		}
		if capture[i] {
			res.Snapshots = append(res.Snapshots, Snapshot{T: d.Schedule.Timesteps[i], XT: x, PredX0: out[1]})
		}
		x, rng = out[0], out[2]
		if opts.Progress != nil {
			opts.Progress(start-i+1, start+1)
		}
	}
	res.Images = x
	return res, nil
}

// captureSet marks the schedule indices whose state is kept: for each
// requested original timestep, the first visited index at or below it.
func captureSet(s *Schedule, want []int, originalT int) ([]bool, error) {
	mark := make([]bool, s.T)
	for _, t := range want {
		if t < 0 || t >= originalT {
			return nil, fmt.Errorf("capture timestep %d is outside [0, %d)", t, originalT)
		}
		for i := s.T - 1; i >= 0; i-- {
			if s.Timesteps[i] <= t {
				mark[i] = true
				break
			}
		}
	}
	return mark, nil
}

// Interpolate encodes two batches of images to x_t with q (sharing the same
// noise), mixes the latents as (1 - lambda) x_t^a + lambda x_t^b for each
// lambda, and decodes each mixture with the reverse process from t down to 0
// (the paper's Figure 8 uses t = 500 of 1000). With respacing, t is rounded
// down to a visited step. The result is shaped [len(lambdas) * B, H, W, C],
// lambda-major.
func (s *Sampler) Interpolate(x0a, x0b *tensors.Tensor, t int, lambdas []float64, opts SampleOptions) (*Result, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !x0a.Shape().Equal(x0b.Shape()) {
		return nil, fmt.Errorf("interpolation: images shaped %s and %s must have the same shape", x0a.Shape(), x0b.Shape())
	}
	if t < 0 || t >= s.Diffusion.Schedule.T {
		return nil, fmt.Errorf("interpolation timestep %d is outside [0, %d)", t, s.Diffusion.Schedule.T)
	}
	if len(lambdas) == 0 {
		return nil, fmt.Errorf("interpolation needs at least one lambda")
	}
	if err := opts.Validate(s.Diffusion.Schedule.T); err != nil {
		return nil, err
	}
	d := s.Diffusion
	var err error
	if !opts.Method.solver() {
		d, err = s.diffusionFor(opts.Steps)
	}
	if err != nil {
		return nil, err
	}
	start := 0
	for i, ts := range d.Schedule.Timesteps {
		if ts <= t {
			start = i
		}
	}
	rng, err := RNGStateFromSeed(opts.Seed)
	if err != nil {
		return nil, err
	}
	out, err := execOnce(s.Backend, func(a, b, lam, rng *Node) []*Node {
		B := a.Shape().Dimensions[0]
		rng, z := RandomNormal(rng, a.Shape())
		tb := BroadcastToDims(Const(a.Graph(), int32(start)), B)
		xa, xb := d.QSample(a, tb, z), d.QSample(b, tb, z)
		L := lam.Shape().Dimensions[0]
		lamB := Reshape(lam, append([]int{L, 1}, ones(a.Rank()-1)...)...)
		mixed := Add(Mul(OneMinus(lamB), ExpandAxes(xa, 0)), Mul(lamB, ExpandAxes(xb, 0)))
		dims := append([]int{L * B}, a.Shape().Dimensions[1:]...)
		return []*Node{Reshape(mixed, dims...), rng}
	}, x0a, x0b, shapes.CastAsDType(lambdas, x0a.DType()), rng)
	if err != nil {
		return nil, fmt.Errorf("interpolation: %w", err)
	}
	if opts.Method.solver() {
		return s.solve(out[0], out[1], start, opts)
	}
	return s.loop(d, out[0], out[1], start, opts)
}

// execOnce compiles graphFn, runs it once with args and frees it.
func execOnce(backend backends.Backend, graphFn any, args ...any) ([]*tensors.Tensor, error) {
	e, err := NewExecAny(backend, graphFn)
	if err != nil {
		return nil, err
	}
	defer e.Finalize()
	return e.Exec(args...)
}

func ones(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = 1
	}
	return out
}
