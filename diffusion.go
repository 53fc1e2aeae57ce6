package ddpm

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // Graph code reads as math.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Denoiser is the network seen by the diffusion code: given x_t shaped
// [B, H, W, C] and the 0-based timesteps t (int32, shaped [B]) it returns the
// model output, shaped like x_t, or [B, H, W, 2C] when the variance is learned
// (the second half of the channels then sets the variance). Nothing in this
// package looks inside it.
type Denoiser func(ctx *context.Context, xt, t *Node) *Node

// Prediction is what the network predicts.
type Prediction int

const (
	// Epsilon: the network predicts the noise eps that made x_t (the paper's choice).
	Epsilon Prediction = iota
	// X0: the network predicts x_0 directly.
	X0
	// V: the network predicts v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0 (Salimans & Ho 2022).
	V
	// Mean: the network predicts the posterior mean mu~(x_t, x_0) itself, the
	// "mu~ prediction" baseline of the paper's Table 2.
	Mean
)

var predictionNames = []string{"eps", "x0", "v", "mean"}

// String returns the name accepted by ParsePrediction.
func (p Prediction) String() string { return enumName(predictionNames, int(p), "Prediction") }

// ParsePrediction returns the Prediction with the given name.
func ParsePrediction(name string) (Prediction, error) {
	i, err := parseEnum("prediction", predictionNames, name)
	return Prediction(i), err
}

// Set implements flag.Value.
func (p *Prediction) Set(name string) (err error) { *p, err = ParsePrediction(name); return }

// MarshalText implements encoding.TextMarshaler.
func (p Prediction) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (p *Prediction) UnmarshalText(b []byte) error { return p.Set(string(b)) }

// VarianceType is how the variance sigma_t^2 of p(x_{t-1} | x_t) is chosen.
type VarianceType int

const (
	// FixedSmall: sigma_t^2 = betatilde_t, the posterior variance (the lower
	// bound on the reverse variance, exact for deterministic x_0).
	FixedSmall VarianceType = iota
	// FixedLarge: sigma_t^2 = beta_t (the upper bound, exact for x_0 ~ N(0, I)),
	// with the t = 0 entry replaced by betatilde_1 as in the official code.
	FixedLarge
	// LearnedRange: the network outputs v in [-1, 1] per dimension and
	// log sigma_t^2 = frac log beta_t + (1 - frac) log betatilde_t with
	// frac = (v + 1) / 2 (Nichol & Dhariwal 2021). The network's output has
	// twice the channels of x_t.
	LearnedRange
)

var varianceNames = []string{"fixed-small", "fixed-large", "learned-range"}

// String returns the name accepted by ParseVarianceType.
func (v VarianceType) String() string { return enumName(varianceNames, int(v), "VarianceType") }

// ParseVarianceType returns the VarianceType with the given name.
func ParseVarianceType(name string) (VarianceType, error) {
	i, err := parseEnum("variance type", varianceNames, name)
	return VarianceType(i), err
}

// Set implements flag.Value.
func (v *VarianceType) Set(name string) (err error) { *v, err = ParseVarianceType(name); return }

// MarshalText implements encoding.TextMarshaler.
func (v VarianceType) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (v *VarianceType) UnmarshalText(b []byte) error { return v.Set(string(b)) }

// Learned reports whether the network outputs the variance (twice the channels).
func (v VarianceType) Learned() bool { return v == LearnedRange }

// LossType is the training objective.
type LossType int

const (
	// Simple is L_simple: the unweighted mean squared error between the
	// network's output and its target (eps, x_0, v or mu~), the paper's eq. 14.
	Simple LossType = iota
	// VLB is the variational bound: the KL term L_t for t > 0 and the decoder
	// negative log-likelihood L_0 at t = 0, in bits per dimension. Its mean
	// over uniformly drawn t is L_vlb / T (the prior term has no parameters).
	VLB
	// Hybrid is L_simple + lambda T L_t (Nichol & Dhariwal 2021), with the
	// mean stopped from receiving gradient through the bound, so the bound
	// trains only the learned variance. With T = 1000 and lambda = 0.001 it is
	// L_simple + L_t in bits/dim, improved-diffusion's choice.
	Hybrid
)

var lossNames = []string{"simple", "vlb", "hybrid"}

// String returns the name accepted by ParseLossType.
func (l LossType) String() string { return enumName(lossNames, int(l), "LossType") }

// ParseLossType returns the LossType with the given name.
func ParseLossType(name string) (LossType, error) {
	i, err := parseEnum("loss", lossNames, name)
	return LossType(i), err
}

// Set implements flag.Value.
func (l *LossType) Set(name string) (err error) { *l, err = ParseLossType(name); return }

// MarshalText implements encoding.TextMarshaler.
func (l LossType) MarshalText() ([]byte, error) { return []byte(l.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (l *LossType) UnmarshalText(b []byte) error { return l.Set(string(b)) }

func enumName(names []string, i int, typeName string) string {
	if i < 0 || i >= len(names) {
		return fmt.Sprintf("%s(%d)", typeName, i)
	}
	return names[i]
}

func parseEnum(what string, names []string, name string) (int, error) {
	i := slices.Index(names, strings.ToLower(strings.TrimSpace(name)))
	if i < 0 {
		return 0, fmt.Errorf("unknown %s %q: valid values are %s", what, name, strings.Join(names, ", "))
	}
	return i, nil
}

// DefaultHybridLambda is the weight of the variational bound in the Hybrid
// loss, Nichol & Dhariwal's lambda = 0.001.
const DefaultHybridLambda = 0.001

// Diffusion pairs a Schedule with the modelling choices: what the network
// predicts, how the reverse variance is set and which loss trains it. Its
// methods build graph code; it holds no graph state and may be shared.
type Diffusion struct {
	Schedule   *Schedule
	Prediction Prediction
	Variance   VarianceType
	Loss       LossType
	// HybridLambda weighs the bound in the Hybrid loss (DefaultHybridLambda).
	HybridLambda float64
	// MinSNRGamma, when positive, weighs the mean squared error of the Simple
	// and Hybrid losses by min-SNR-gamma (Hang et al. 2023): each timestep's
	// error counts as min(SNR_t, gamma) times the error of the x_0 it implies.
	// See MSEWeights. Zero is the paper's unweighted L_simple.
	MinSNRGamma float64
}

// MSEWeights returns, per timestep, the weight of the mean squared error in
// the Simple and Hybrid losses: all ones without min-SNR weighting, and
// otherwise min(SNR_t, gamma) / k_t, where SNR_t = abar_t / (1 - abar_t) and
// k_t converts the prediction's error into the error of x_0 it implies:
// |x_0 - x̂_0|^2 = |eps - ε̂|^2 / SNR_t for eps, = |v - v̂|^2 / (SNR_t + 1) for
// v, and = |mu - mû|^2 / c1_t^2 for the posterior mean (c1_t its weight of
// x_0). So the weight is min(SNR_t, gamma) / SNR_t for eps,
// min(SNR_t, gamma) / (SNR_t + 1) for v, min(SNR_t, gamma) for x_0 and
// min(SNR_t, gamma) / c1_t^2 for the mean.
func (d *Diffusion) MSEWeights() []float64 {
	s := d.Schedule
	w := make([]float64, s.T)
	for t := range w {
		if d.MinSNRGamma <= 0 {
			w[t] = 1
			continue
		}
		snr := s.AlphasCumprod[t] / (1 - s.AlphasCumprod[t])
		m := math.Min(snr, d.MinSNRGamma)
		switch d.Prediction {
		case Epsilon:
			w[t] = m / snr
		case X0:
			w[t] = m
		case V:
			w[t] = m / (snr + 1)
		case Mean:
			c := s.PosteriorMeanCoef1[t]
			w[t] = m / (c * c)
		}
	}
	return w
}

// NewDiffusion checks that the choices fit together and returns the Diffusion.
// A learned variance is trained only through the bound, so it needs the VLB
// or Hybrid loss; Hybrid's bound term trains only the variance, so it needs a
// learned variance.
func NewDiffusion(s *Schedule, p Prediction, v VarianceType, l LossType) (*Diffusion, error) {
	if s == nil {
		return nil, fmt.Errorf("ddpm.NewDiffusion: nil schedule")
	}
	if p < Epsilon || p > Mean {
		return nil, fmt.Errorf("unknown prediction %v: valid values are %s", p, strings.Join(predictionNames, ", "))
	}
	if v < FixedSmall || v > LearnedRange {
		return nil, fmt.Errorf("unknown variance type %v: valid values are %s", v, strings.Join(varianceNames, ", "))
	}
	if l < Simple || l > Hybrid {
		return nil, fmt.Errorf("unknown loss %v: valid values are %s", l, strings.Join(lossNames, ", "))
	}
	if v.Learned() && l == Simple {
		return nil, fmt.Errorf("variance %v is trained only by the bound: use loss vlb or hybrid, not %v", v, l)
	}
	if l == Hybrid && !v.Learned() {
		return nil, fmt.Errorf("loss hybrid trains the variance through the bound: use variance %v, not %v", LearnedRange, v)
	}
	return &Diffusion{Schedule: s, Prediction: p, Variance: v, Loss: l, HybridLambda: DefaultHybridLambda}, nil
}

// OutputChannels returns how many channels the network must output for
// images with the given number of channels: twice as many when it also
// predicts the variance.
func (v VarianceType) OutputChannels(imageChannels int) int {
	if v.Learned() {
		return 2 * imageChannels
	}
	return imageChannels
}

// OutputChannels is the variance type's OutputChannels.
func (d *Diffusion) OutputChannels(imageChannels int) int {
	return d.Variance.OutputChannels(imageChannels)
}

// Respaced returns the same Diffusion over the schedule respaced to the given
// timesteps (see Schedule.Respace). The network keeps seeing the original
// timesteps.
func (d *Diffusion) Respaced(use []int) (*Diffusion, error) {
	s, err := d.Schedule.Respace(use)
	if err != nil {
		return nil, err
	}
	r := *d
	r.Schedule = s
	return &r, nil
}

// checkXT panics with a clear message unless x is a float tensor with a batch
// axis and t is an integer vector of that batch size.
func checkXT(op string, x, t *Node) {
	if !x.DType().IsFloat() || x.Rank() < 1 {
		panicf("%s: x must be a float tensor shaped [B, ...], got %s", op, x.Shape())
	}
	if !t.DType().IsInt() || t.Rank() != 1 || t.Shape().Dimensions[0] != x.Shape().Dimensions[0] {
		panicf("%s: t must be an integer vector shaped [B]=[%d], got %s", op, x.Shape().Dimensions[0], t.Shape())
	}
}

// checkSame panics unless a and b have the same shape.
func checkSame(op, nameA, nameB string, a, b *Node) {
	if !a.Shape().Equal(b.Shape()) {
		panicf("%s: %s %s and %s %s must have the same shape", op, nameA, a.Shape(), nameB, b.Shape())
	}
}

// Coef gathers table[t] for each example and reshapes it to [B, 1, ..., 1],
// in x's dtype, so that it broadcasts against x. It is the one place where a
// schedule table enters a graph.
//
// Shapes: t int [B]; x [B, ...]. Output [B, 1, ..., 1] with x's rank.
func Coef(table []float64, t, x *Node) *Node {
	checkXT("ddpm.Coef", x, t)
	g := x.Graph()
	c := ConstAsDType(g, x.DType(), table)
	v := Gather(c, ExpandAxes(t, -1)) // [B]
	dims := make([]int, x.Rank())
	for i := range dims {
		dims[i] = 1
	}
	dims[0] = x.Shape().Dimensions[0]
	return Reshape(v, dims...)
}

// QMeanVariance returns the mean sqrt(abar_t) x_0 and the log-variance
// log(1 - abar_t) of q(x_t | x_0), the paper's eq. 4.
//
// Shapes: x0 [B, ...], t int [B]. Outputs [B, ...] and [B, 1, ..., 1].
func (d *Diffusion) QMeanVariance(x0, t *Node) (mean, logVariance *Node) {
	s := d.Schedule
	return Mul(Coef(s.SqrtAlphasCumprod, t, x0), x0), Coef(s.LogOneMinusAlphasCumprod, t, x0)
}

// QSample draws x_t ~ q(x_t | x_0) with the given standard normal noise:
// x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) noise.
//
// Shapes: x0 and noise [B, ...], t int [B]. Output [B, ...].
func (d *Diffusion) QSample(x0, t, noise *Node) *Node {
	checkSame("ddpm.QSample", "x0", "noise", x0, noise)
	s := d.Schedule
	return Add(Mul(Coef(s.SqrtAlphasCumprod, t, x0), x0), Mul(Coef(s.SqrtOneMinusAlphasCumprod, t, x0), noise))
}

// QPosterior returns the mean, variance and clipped log-variance of
// q(x_{t-1} | x_t, x_0), the paper's eq. 6-7.
//
// Shapes: x0 and xt [B, ...], t int [B]. Mean [B, ...]; variance and
// log-variance [B, 1, ..., 1].
func (d *Diffusion) QPosterior(x0, xt, t *Node) (mean, variance, logVarianceClipped *Node) {
	checkSame("ddpm.QPosterior", "x0", "xt", x0, xt)
	s := d.Schedule
	mean = Add(Mul(Coef(s.PosteriorMeanCoef1, t, xt), x0), Mul(Coef(s.PosteriorMeanCoef2, t, xt), xt))
	return mean, Coef(s.PosteriorVariance, t, xt), Coef(s.PosteriorLogVarianceClipped, t, xt)
}

// PredictX0FromEps inverts QSample: x_0 = x_t / sqrt(abar_t) - sqrt(1/abar_t - 1) eps.
func (d *Diffusion) PredictX0FromEps(xt, t, eps *Node) *Node {
	checkSame("ddpm.PredictX0FromEps", "xt", "eps", xt, eps)
	s := d.Schedule
	return Sub(Mul(Coef(s.SqrtRecipAlphasCumprod, t, xt), xt), Mul(Coef(s.SqrtRecipm1AlphasCumprod, t, xt), eps))
}

// PredictEpsFromX0 is the other way round: eps = (x_t / sqrt(abar_t) - x_0) / sqrt(1/abar_t - 1).
func (d *Diffusion) PredictEpsFromX0(xt, t, x0 *Node) *Node {
	checkSame("ddpm.PredictEpsFromX0", "xt", "x0", xt, x0)
	s := d.Schedule
	return Div(Sub(Mul(Coef(s.SqrtRecipAlphasCumprod, t, xt), xt), x0), Coef(s.SqrtRecipm1AlphasCumprod, t, xt))
}

// PredictX0FromV returns x_0 = sqrt(abar_t) x_t - sqrt(1 - abar_t) v.
func (d *Diffusion) PredictX0FromV(xt, t, v *Node) *Node {
	checkSame("ddpm.PredictX0FromV", "xt", "v", xt, v)
	s := d.Schedule
	return Sub(Mul(Coef(s.SqrtAlphasCumprod, t, xt), xt), Mul(Coef(s.SqrtOneMinusAlphasCumprod, t, xt), v))
}

// VTarget returns v = sqrt(abar_t) eps - sqrt(1 - abar_t) x_0, the target of a V model.
func (d *Diffusion) VTarget(x0, t, eps *Node) *Node {
	checkSame("ddpm.VTarget", "x0", "eps", x0, eps)
	s := d.Schedule
	return Sub(Mul(Coef(s.SqrtAlphasCumprod, t, x0), eps), Mul(Coef(s.SqrtOneMinusAlphasCumprod, t, x0), x0))
}

// PredictX0FromMean inverts the posterior mean: x_0 = (mu - coef2_t x_t) / coef1_t.
func (d *Diffusion) PredictX0FromMean(xt, t, mean *Node) *Node {
	checkSame("ddpm.PredictX0FromMean", "xt", "mean", xt, mean)
	s := d.Schedule
	return Div(Sub(mean, Mul(Coef(s.PosteriorMeanCoef2, t, xt), xt)), Coef(s.PosteriorMeanCoef1, t, xt))
}

// Target returns what the network is trained to output under L_simple for
// d.Prediction: eps, x_0, v, or the posterior mean.
func (d *Diffusion) Target(x0, xt, t, noise *Node) *Node {
	switch d.Prediction {
	case Epsilon:
		return noise
	case X0:
		return x0
	case V:
		return d.VTarget(x0, t, noise)
	case Mean:
		mean, _, _ := d.QPosterior(x0, xt, t)
		return mean
	}
	panicf("ddpm: unknown prediction %v", d.Prediction)
	return nil
}

// SplitOutput separates the network output into the prediction and, for a
// learned variance, the variance channels (nil otherwise).
//
// Shapes: out [B, ..., C'] with C' = C or 2C; xt [B, ..., C].
func (d *Diffusion) SplitOutput(out, xt *Node) (pred, varValues *Node) {
	if !d.Variance.Learned() {
		checkSame("ddpm.Diffusion (model output)", "model output", "x_t", out, xt)
		return out, nil
	}
	want := xt.Shape().Clone()
	want.Dimensions[want.Rank()-1] *= 2
	if !out.Shape().Equal(want) {
		panicf("ddpm.Diffusion: variance %v needs the model output shaped %s (twice the channels of x_t %s), got %s",
			d.Variance, want, xt.Shape(), out.Shape())
	}
	parts := Split(out, -1, 2)
	return parts[0], parts[1]
}

// PMean is p(x_{t-1} | x_t) as given by a model output.
type PMean struct {
	Mean        *Node // [B, ...]
	LogVariance *Node // [B, ...] for a learned variance, else [B, 1, ..., 1]
	PredX0      *Node // [B, ...], clipped to [-1, 1] when asked
	PredEps     *Node // [B, ...], the noise implied by PredX0 (as DDIM uses it)
}

// PMeanVariance turns a model output into p(x_{t-1} | x_t): the mean (from the
// prediction, through the predicted x_0 and the posterior mean), the
// log-variance (fixed or learned) and the predicted x_0. With clipX0 the
// predicted x_0 is clipped to [-1, 1] before the mean is formed (the mean of
// a Mean model is its output and is not changed).
//
// Shapes: out [B, ..., C] or [B, ..., 2C]; xt [B, ..., C]; t int [B].
func (d *Diffusion) PMeanVariance(out, xt, t *Node, clipX0 bool) PMean {
	checkXT("ddpm.PMeanVariance", xt, t)
	pred, varValues := d.SplitOutput(out, xt)
	return d.pMeanVarianceSplit(pred, varValues, xt, t, clipX0)
}

// pMeanVarianceSplit is PMeanVariance on an output already split by SplitOutput.
func (d *Diffusion) pMeanVarianceSplit(pred, varValues, xt, t *Node, clipX0 bool) PMean {
	s := d.Schedule
	var logVar *Node
	switch d.Variance {
	case FixedSmall:
		logVar = Coef(s.PosteriorLogVarianceClipped, t, xt)
	case FixedLarge:
		logVar = Coef(s.FixedLargeLogVariance(), t, xt)
	case LearnedRange:
		minLog := Coef(s.PosteriorLogVarianceClipped, t, xt)
		maxLog := Coef(logOf(s.Betas), t, xt)
		frac := MulScalar(OnePlus(varValues), 0.5)
		logVar = Add(Mul(frac, maxLog), Mul(OneMinus(frac), minLog))
	default:
		panicf("ddpm: unknown variance type %v", d.Variance)
	}
	clip := func(x *Node) *Node {
		if clipX0 {
			return ClipScalar(x, -1, 1)
		}
		return x
	}
	var x0, mean *Node
	switch d.Prediction {
	case Epsilon:
		x0 = clip(d.PredictX0FromEps(xt, t, pred))
	case X0:
		x0 = clip(pred)
	case V:
		x0 = clip(d.PredictX0FromV(xt, t, pred))
	case Mean:
		x0 = clip(d.PredictX0FromMean(xt, t, pred))
		mean = pred
	default:
		panicf("ddpm: unknown prediction %v", d.Prediction)
	}
	if mean == nil {
		mean, _, _ = d.QPosterior(x0, xt, t)
	}
	return PMean{Mean: mean, LogVariance: logVar, PredX0: x0, PredEps: d.PredictEpsFromX0(xt, t, x0)}
}

func logOf(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = math.Log(x)
	}
	return out
}

// ModelTimesteps maps the timesteps of this diffusion's schedule to those the
// network was trained on (different only for a respaced schedule).
func (d *Diffusion) ModelTimesteps(t *Node) *Node {
	s := d.Schedule
	identity := true
	for i, ts := range s.Timesteps {
		if ts != i {
			identity = false
			break
		}
	}
	if identity {
		return t
	}
	table := make([]int32, len(s.Timesteps))
	for i, ts := range s.Timesteps {
		table[i] = int32(ts)
	}
	return ConvertDType(Gather(Const(t.Graph(), table), ExpandAxes(t, -1)), t.DType())
}

// Model calls the denoiser at x_t, mapping t to the network's timesteps.
func (d *Diffusion) Model(ctx *context.Context, denoiser Denoiser, xt, t *Node) *Node {
	checkXT("ddpm.Diffusion.Model", xt, t)
	return denoiser(ctx, xt, d.ModelTimesteps(t))
}

// ForwardNoising draws x_t ~ q(x_t | x_0) for every image and every one of
// the given timesteps, on the backend, with noise from the seed. images is
// flat [B, H, W, C] (shape gives the dimensions); the result is flat
// [B, len(ts), H, W, C]: for each image, its noised copies in the order of ts.
func ForwardNoising(backend backends.Backend, d *Diffusion, images []float32, shape []int, ts []int, seed int64) ([]float32, error) {
	if len(shape) < 2 {
		return nil, fmt.Errorf("forward noising: shape %v must be [B, ...]", shape)
	}
	size := 1
	for _, n := range shape {
		size *= n
	}
	if size != len(images) || size == 0 {
		return nil, fmt.Errorf("forward noising: %d values do not fill shape %v", len(images), shape)
	}
	B, K := shape[0], len(ts)
	tt := make([]int32, 0, B*K)
	for range B {
		for _, t := range ts {
			if t < 0 || t >= d.Schedule.T {
				return nil, fmt.Errorf("forward noising: timestep %d is outside [0, %d)", t, d.Schedule.T)
			}
			tt = append(tt, int32(t))
		}
	}
	rng, err := RNGStateFromSeed(seed)
	if err != nil {
		return nil, err
	}
	x := tensors.FromFlatDataAndDimensions(images, shape...)
	out, err := execOnce(backend, func(x, t, rng *Node) *Node {
		// Repeat each image K times: [B, ...] -> [B, K, ...] -> [B*K, ...].
		dims := append([]int{B * K}, shape[1:]...)
		rep := Reshape(BroadcastToDims(ExpandAxes(x, 1), append([]int{B, K}, shape[1:]...)...), dims...)
		_, noise := RandomNormal(rng, rep.Shape())
		return d.QSample(rep, t, noise)
	}, x, tt, rng)
	if err != nil {
		return nil, fmt.Errorf("forward noising: %w", err)
	}
	var res []float32
	out[0].ConstFlatData(func(flat any) { res = append(res, flat.([]float32)...) })
	return res, nil
}

// QStepChain noises x_0 one step at a time with q(x_t | x_{t-1}) =
// N(sqrt(1 - beta_t) x_{t-1}, beta_t I) up to and including timestep t, on
// the backend (one compiled step in a Go loop). Its result has the law of
// QSample at t; the notebooks use it to show that the closed-form jump and
// the chain agree. images is flat with the given shape.
func QStepChain(backend backends.Backend, d *Diffusion, images []float32, shape []int, t int, seed int64) ([]float32, error) {
	if t < 0 || t >= d.Schedule.T {
		return nil, fmt.Errorf("step-by-step noising: timestep %d is outside [0, %d)", t, d.Schedule.T)
	}
	size := 1
	for _, n := range shape {
		size *= n
	}
	if size != len(images) || size == 0 || len(shape) < 1 {
		return nil, fmt.Errorf("step-by-step noising: %d values do not fill shape %v", len(images), shape)
	}
	step, err := NewExec(backend, func(x, tt, rng *Node) (*Node, *Node) {
		beta := Gather(ConstAsDType(x.Graph(), x.DType(), d.Schedule.Betas), ExpandAxes(tt, -1))
		rng, z := RandomNormal(rng, x.Shape())
		return Add(Mul(Sqrt(OneMinus(beta)), x), Mul(Sqrt(beta), z)), rng
	})
	if err != nil {
		return nil, err
	}
	defer step.Finalize()
	rng, err := RNGStateFromSeed(seed)
	if err != nil {
		return nil, err
	}
	x := tensors.FromFlatDataAndDimensions(images, shape...)
	for s := 0; s <= t; s++ {
		out, err := step.Exec(x, int32(s), rng)
		if err != nil {
			return nil, fmt.Errorf("step-by-step noising at t=%d: %w", s, err)
		}
		x, rng = out[0], out[1]
	}
	var res []float32
	x.ConstFlatData(func(flat any) { res = append(res, flat.([]float32)...) })
	return res, nil
}
