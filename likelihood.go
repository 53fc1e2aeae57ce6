package ddpm

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // Graph code reads as math.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// NormalKL returns KL(N(mean1, exp(logVar1)) || N(mean2, exp(logVar2))) in
// nats, elementwise with broadcasting:
//
//	0.5 (-1 + logVar2 - logVar1 + exp(logVar1 - logVar2) + (mean1 - mean2)^2 exp(-logVar2))
func NormalKL(mean1, logVar1, mean2, logVar2 *Node) *Node {
	return MulScalar(
		Add(
			AddScalar(Sub(logVar2, logVar1), -1),
			Add(Exp(Sub(logVar1, logVar2)), Mul(Square(Sub(mean1, mean2)), Exp(Neg(logVar2)))),
		), 0.5)
}

// ApproxStandardNormalCDF is the tanh approximation of the standard normal
// CDF used by the official implementation:
// 0.5 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
func ApproxStandardNormalCDF(x *Node) *Node {
	inner := MulScalar(Add(x, MulScalar(PowScalar(x, 3), 0.044715)), math.Sqrt(2/math.Pi))
	return MulScalar(OnePlus(Tanh(inner)), 0.5)
}

// DiscretizedGaussianLogLikelihood returns, in nats and elementwise, the log
// probability of image values x in [-1, 1] (256 levels, bins of width 2/255)
// under a Gaussian with the given mean and log standard deviation, integrated
// over each value's bin. The edge bins are open: x < -0.999 takes all the mass
// below -1 + 1/255, x > 0.999 all the mass above 1 - 1/255. The CDF is
// ApproxStandardNormalCDF and probabilities are clamped at 1e-12 before the
// log, as in the official implementation.
//
// Shapes: x, mean and logScale broadcast against each other; the output has
// their common shape.
func DiscretizedGaussianLogLikelihood(x, mean, logScale *Node) *Node {
	const halfBin = 1.0 / 255
	centered := Sub(x, mean)
	invStd := Exp(Neg(logScale))
	cdfPlus := ApproxStandardNormalCDF(Mul(invStd, AddScalar(centered, halfBin)))
	cdfMin := ApproxStandardNormalCDF(Mul(invStd, AddScalar(centered, -halfBin)))
	logCdfPlus := Log(MaxScalar(cdfPlus, 1e-12))
	logOneMinusCdfMin := Log(MaxScalar(OneMinus(cdfMin), 1e-12))
	logCdfDelta := Log(MaxScalar(Sub(cdfPlus, cdfMin), 1e-12))
	// Shapes may differ by broadcasting: bring x to the result's shape for Where.
	x = BroadcastToShape(x, logCdfDelta.Shape())
	return Where(LessThan(x, ScalarLike(x, -0.999)), BroadcastToShape(logCdfPlus, x.Shape()),
		Where(GreaterThan(x, ScalarLike(x, 0.999)), BroadcastToShape(logOneMinusCdfMin, x.Shape()), logCdfDelta))
}

// ScalarLike returns a scalar constant with x's graph and dtype.
func ScalarLike(x *Node, v float64) *Node { return Scalar(x.Graph(), x.DType(), v) }

// meanFlat averages over every axis but the first (the batch): [B, ...] -> [B].
func meanFlat(x *Node) *Node {
	if x.Rank() <= 1 {
		return x
	}
	axes := make([]int, x.Rank()-1)
	for i := range axes {
		axes[i] = i + 1
	}
	return ReduceMean(x, axes...)
}

// PriorBPD returns the prior term KL(q(x_{T-1} | x_0) || N(0, I)) in bits per
// dimension, per example. It has no parameters to learn; for the paper's
// schedule it is about 1e-5 bits/dim.
//
// Shapes: x0 [B, ...]. Output [B].
func (d *Diffusion) PriorBPD(x0 *Node) *Node {
	B := x0.Shape().Dimensions[0]
	t := BroadcastToDims(Const(x0.Graph(), int32(d.Schedule.T-1)), B)
	mean, logVar := d.QMeanVariance(x0, t)
	zero := ScalarLike(x0, 0)
	return DivScalar(meanFlat(NormalKL(mean, BroadcastToShape(logVar, x0.Shape()), zero, zero)), math.Ln2)
}

// VLBTerm returns the term L_t of the variational bound for each example, in
// bits per dimension: KL(q(x_{t-1} | x_t, x_0) || p(x_{t-1} | x_t)) for t > 0
// and the decoder's negative log-likelihood -log p(x_0 | x_1) for t = 0.
//
// Shapes: p from PMeanVariance at (x_t, t); x0 and xt [B, ...]; t int [B].
// Output [B].
func (d *Diffusion) VLBTerm(p PMean, x0, xt, t *Node) *Node {
	checkXT("ddpm.VLBTerm", x0, t)
	trueMean, _, trueLogVar := d.QPosterior(x0, xt, t)
	kl := DivScalar(meanFlat(NormalKL(trueMean, BroadcastToShape(trueLogVar, x0.Shape()), p.Mean, p.LogVariance)), math.Ln2)
	nll := DivScalar(meanFlat(Neg(DiscretizedGaussianLogLikelihood(x0, p.Mean, MulScalar(p.LogVariance, 0.5)))), math.Ln2)
	isFirst := Equal(t, ZerosLike(t))
	return Where(isFirst, nll, kl)
}

// BPD is the full-chain variational bound of a batch, in bits per dimension.
// Per-timestep slices are indexed by t (0..T-1) and then by example.
type BPD struct {
	Total []float64 // [B] prior + sum over t of VB: the bound on -log2 p(x_0) per dimension
	Prior []float64 // [B] KL(q(x_{T-1} | x_0) || N(0, I))
	// Decoder is L_0 = -log2 p(x_0 | x_1) per dimension [B], part of Total:
	// computed exactly in both the full chain (where it is VB[0]) and the
	// stratified estimate.
	Decoder []float64
	VB      [][]float64 // [T][B] L_t: KL terms for t > 0, decoder NLL at t = 0
	MSE     [][]float64 // [T][B] mean squared error of the implied eps against the true noise
	X0MSE   [][]float64 // [T][B] mean squared error of the predicted x_0
}

// MeanTotal returns the batch mean of Total.
func (b *BPD) MeanTotal() float64 { return mean(b.Total) }

// MeanTerm returns the batch mean of one per-t table (VB, MSE or X0MSE) for each t.
func MeanTerm(table [][]float64) []float64 {
	out := make([]float64, len(table))
	for t, row := range table {
		out[t] = mean(row)
	}
	return out
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return math.NaN()
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// BPDOptions configures CalcBPD.
type BPDOptions struct {
	Seed   int64 // Seeds the noise of every q(x_t | x_0) draw (and the strata's timesteps).
	ClipX0 bool  // Clip the predicted x_0 to [-1, 1] (improved-diffusion evaluates with clipping).
	// Strata, when positive, replaces the T terms by an unbiased estimate from
	// Strata+1 denoiser passes: L_0 exactly, and for each of Strata strata of
	// [1, T) (geometrically growing, since L_t falls fast with t) one t drawn
	// uniformly per example, weighted by the stratum's size. The per-t tables
	// of the result are then nil; Total's spread across examples includes the
	// sampling of t, so its standard error is honest.
	Strata int
	// Progress, if set, is called after each timestep with the number done and T.
	Progress func(done, total int)
}

// CalcBPD evaluates the variational bound term by term over the whole chain,
// as improved-diffusion's calc_bpd_loop: for each t from T-1 down to 0 it
// draws x_t ~ q(x_t | x_0), runs the denoiser once and records L_t, the eps
// MSE and the x_0 MSE; the prior term is added to the total. It compiles one
// step and runs it T times.
//
// x0 is shaped [B, H, W, C] with values on the 256-level grid of [-1, 1].
func CalcBPD(backend backends.Backend, ctx *context.Context, d *Diffusion, denoiser Denoiser, x0 *tensors.Tensor, opts BPDOptions) (*BPD, error) {
	if x0.Rank() < 2 || !x0.DType().IsFloat() {
		return nil, fmt.Errorf("bits/dim: x0 must be a float tensor shaped [B, ...], got %s", x0.Shape())
	}
	if ctx == nil {
		ctx = context.New()
	}
	T, B := d.Schedule.T, x0.Shape().Dimensions[0]
	step, err := context.NewExec(backend, ctx.Reuse(), func(ctx *context.Context, inputs []*Node) []*Node {
		x0, tb, rng := inputs[0], inputs[1], inputs[2]
		rng, noise := RandomNormal(rng, x0.Shape())
		xt := d.QSample(x0, tb, noise)
		p := d.PMeanVariance(d.Model(ctx, denoiser, xt, tb), xt, tb, opts.ClipX0)
		vb := d.VLBTerm(p, x0, xt, tb)
		return []*Node{vb, meanFlat(Square(Sub(p.PredEps, noise))), meanFlat(Square(Sub(p.PredX0, x0))), rng}
	})
	if err != nil {
		return nil, err
	}
	defer step.Finalize()
	rng, err := RNGStateFromSeed(opts.Seed)
	if err != nil {
		return nil, err
	}
	if opts.Strata > 0 {
		return calcBPDStrata(backend, d, step, x0, rng, opts)
	}
	res := &BPD{VB: make([][]float64, T), MSE: make([][]float64, T), X0MSE: make([][]float64, T)}
	for t := T - 1; t >= 0; t-- {
		out, err := step.Exec(x0, filled(B, t), rng)
		if err != nil {
			return nil, fmt.Errorf("bits/dim at t=%d: %w", t, err)
		}
		res.VB[t], res.MSE[t], res.X0MSE[t] = toFloat64(out[0]), toFloat64(out[1]), toFloat64(out[2])
		rng = out[3]
		if opts.Progress != nil {
			opts.Progress(T-t, T)
		}
	}
	res.Decoder = res.VB[0]
	if res.Prior, err = priorTerm(backend, d, x0); err != nil {
		return nil, err
	}
	res.Total = make([]float64, B)
	for b := range res.Total {
		res.Total[b] = res.Prior[b]
		for t := range T {
			res.Total[b] += res.VB[t][b]
		}
	}
	return res, checkFinite(res.Total)
}

func priorTerm(backend backends.Backend, d *Diffusion, x0 *tensors.Tensor) ([]float64, error) {
	prior, err := execOnce(backend, func(x0 *Node) *Node { return d.PriorBPD(x0) }, x0)
	if err != nil {
		return nil, fmt.Errorf("bits/dim prior term: %w", err)
	}
	return toFloat64(prior[0]), nil
}

func checkFinite(total []float64) error {
	for b, v := range total {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return fmt.Errorf("bits/dim of example %d is %v: the model output is not finite", b, v)
		}
	}
	return nil
}

// filled returns n copies of t as int32.
func filled(n, t int) []int32 {
	out := make([]int32, n)
	for i := range out {
		out[i] = int32(t)
	}
	return out
}

// Strata returns the bounds of k strata covering [1, T): geometrically
// growing, each at least one timestep wide, as [start, end) pairs.
func Strata(T, k int) [][2]int {
	if T < 2 || k < 1 {
		return nil
	}
	k = min(k, T-1)
	var out [][2]int
	start := 1
	for j := 1; j <= k; j++ {
		end := int(math.Round(math.Pow(float64(T), float64(j)/float64(k))))
		end = max(end, start+1)
		end = min(end, T-(k-j)) // Leave room for the strata still to come.
		if j == k {
			end = T
		}
		out = append(out, [2]int{start, end})
		start = end
	}
	return out
}

// calcBPDStrata is CalcBPD's stratified estimate (BPDOptions.Strata).
func calcBPDStrata(backend backends.Backend, d *Diffusion, step *context.Exec, x0, rng *tensors.Tensor, opts BPDOptions) (*BPD, error) {
	T, B := d.Schedule.T, x0.Shape().Dimensions[0]
	res := &BPD{Total: make([]float64, B)}
	host := rand.New(rand.NewPCG(uint64(opts.Seed), 0x5eed))
	strata := Strata(T, opts.Strata)
	passes := append([][2]int{{0, 1}}, strata...) // t = 0 exactly, then one draw per stratum.
	for k, st := range passes {
		t := make([]int32, B)
		for i := range t {
			t[i] = int32(st[0] + host.IntN(st[1]-st[0]))
		}
		out, err := step.Exec(x0, t, rng)
		if err != nil {
			return nil, fmt.Errorf("bits/dim, stratum %v: %w", st, err)
		}
		vb := toFloat64(out[0])
		if k == 0 {
			res.Decoder = vb
		}
		for i := range vb {
			res.Total[i] += float64(st[1]-st[0]) * vb[i]
		}
		rng = out[3]
		if opts.Progress != nil {
			opts.Progress(k+1, len(passes))
		}
	}
	var err error
	if res.Prior, err = priorTerm(backend, d, x0); err != nil {
		return nil, err
	}
	for i := range res.Total {
		res.Total[i] += res.Prior[i]
	}
	return res, checkFinite(res.Total)
}

// toFloat64 copies a float tensor of any float dtype to a []float64.
func toFloat64(t *tensors.Tensor) []float64 {
	var out []float64
	t.ConstFlatData(func(flat any) {
		switch v := flat.(type) {
		case []float32:
			out = make([]float64, len(v))
			for i, x := range v {
				out[i] = float64(x)
			}
		case []float64:
			out = append([]float64(nil), v...)
		default:
			converted := shapes.CastAsDType(flat, dtypes.Float64)
			out = converted.([]float64)
		}
	})
	return out
}

// PriorBPDOf evaluates PriorBPD on the backend for flat images of the given
// shape and returns its mean over the images, in bits per dimension.
func PriorBPDOf(backend backends.Backend, d *Diffusion, images []float32, shape []int) (float64, error) {
	size := 1
	for _, n := range shape {
		size *= n
	}
	if len(shape) < 2 || size != len(images) || size == 0 {
		return 0, fmt.Errorf("prior term: %d values do not fill shape %v", len(images), shape)
	}
	out, err := execOnce(backend, func(x *Node) *Node { return ReduceAllMean(d.PriorBPD(x)) },
		tensors.FromFlatDataAndDimensions(images, shape...))
	if err != nil {
		return 0, fmt.Errorf("prior term: %w", err)
	}
	return toFloat64(out[0])[0], nil
}
