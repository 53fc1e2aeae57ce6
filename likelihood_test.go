package ddpm

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// discretizedGaussian returns the probabilities of the 256 levels of [-1, 1]
// for N(mu, s^2) integrated over each level's bin, with open edge bins.
func discretizedGaussian(mu, s float64) []float64 {
	cdf := func(x float64) float64 { return 0.5 * math.Erfc(-(x-mu)/(s*math.Sqrt2)) }
	p := make([]float64, 256)
	for k := range p {
		x := float64(k)/127.5 - 1
		lo, hi := cdf(x-1.0/255), cdf(x+1.0/255)
		switch k {
		case 0:
			lo = 0
		case 255:
			hi = 1
		}
		p[k] = hi - lo
	}
	return p
}

// discreteOracle is the optimal eps predictor for data whose dimension d takes
// level k of the 256-level grid with probability probs[d][k]: the exact
// posterior mean E[x_0 | x_t] = sum_k x_k p_k N(x_t; sqrt(abar) x_k, 1 - abar) / Z,
// turned into eps = (x_t - sqrt(abar) E[x_0 | x_t]) / sqrt(1 - abar).
func discreteOracle(s *Schedule, probs [][]float64) Denoiser {
	levels := make([]float64, 256)
	for k := range levels {
		levels[k] = float64(k)/127.5 - 1
	}
	logp := make([]float64, 0, len(probs)*256)
	for _, p := range probs {
		for _, pk := range p {
			logp = append(logp, math.Log(math.Max(pk, 1e-300)))
		}
	}
	return func(_ *context.Context, xt, t *Node) *Node {
		ab := Coef(s.AlphasCumprod, t, xt)
		lv := Reshape(ConstAs(xt, levels), 1, 1, 1, 1, 256)
		lp := Reshape(ConstAs(xt, logp), 1, 1, len(probs), 1, 256)
		mu := Mul(ExpandAxes(Sqrt(ab), -1), lv) // [B,1,1,1,256]
		logits := Sub(lp, Div(Square(Sub(ExpandAxes(xt, -1), mu)), MulScalar(ExpandAxes(OneMinus(ab), -1), 2)))
		x0 := ReduceSum(Mul(Softmax(logits, -1), lv), -1)
		return Div(Sub(xt, Mul(Sqrt(ab), x0)), Sqrt(OneMinus(ab)))
	}
}

// TestOracleBPD: the full-chain bound with the optimal denoiser for the
// discretized data (discreteOracle) is an upper bound on -log2 p_model(x_0),
// whose mean over the data is at least the entropy H of the data:
// E[bound - (-log2 q(x_0))] >= 0. The test works with that per-example
// difference, whose spread is far smaller than the bound's.
//
// With fixed-large variances the bound attains the data's NLL within its
// Monte Carlo error (measured: gap -0.02 ± 0.05 bits/dim of 7.32), and the
// test asks for a gap below 0.15 bits/dim. Fixed-small variances pay more
// (measured 0.57 bits/dim): where the noise is about one bin wide the true
// reverse step is multimodal (which bin?) and a narrow Gaussian
// p(x_{t-1} | x_t) is charged for it; the test asks for 10% of the NLL. In
// both the terms fall by two orders of magnitude from t = 0 to t = 100 (L_0
// about 2.5 bits/dim, L_100 below 0.01), the rate-distortion picture of the
// paper's Figure 5.
func TestOracleBPD(t *testing.T) {
	if testing.Short() {
		t.Skip("1000-step bits/dim skipped in -short mode")
	}
	const B = 1000
	rng := rand.New(rand.NewPCG(1, 2))
	probs := [2][]float64{discretizedGaussian(oracleMu[0], oracleStd[0]), discretizedGaussian(oracleMu[1], oracleStd[1])}
	data := make([]float32, B*2)
	dataNLL := make([]float64, B) // -log2 q(x_0) per dimension
	for i := range data {
		u, p, k := rng.Float64(), probs[i%2], 0
		for acc := p[0]; acc < u && k < 255; acc += p[k+1] {
			k++
		}
		data[i] = float32(float64(k)/127.5 - 1)
		dataNLL[i/2] -= math.Log2(p[k]) / 2
	}
	x0 := tensors.FromFlatDataAndDimensions(data, B, 1, 2, 1)
	for _, vt := range []VarianceType{FixedSmall, FixedLarge} {
		d := newTestDiffusion(t, Linear, 1000, Epsilon, vt, VLB)
		calls := 0
		res, err := CalcBPD(testBackend(t), nil, d, discreteOracle(d.Schedule, probs[:]), x0,
			BPDOptions{Seed: 3, Progress: func(done, total int) { calls++ }})
		if err != nil {
			t.Fatal(err)
		}
		if calls != 1000 {
			t.Errorf("progress called %d times, want 1000", calls)
		}
		diff := make([]float64, B)
		for b := range diff {
			diff[b] = res.Total[b] - dataNLL[b]
		}
		gap, se := mean(diff), 0.0
		for _, v := range diff {
			se += (v - gap) * (v - gap)
		}
		se = math.Sqrt(se/float64(B-1)) / math.Sqrt(B)
		vbm := MeanTerm(res.VB)
		t.Logf("%v: bound %.4f bits/dim, data NLL %.4f, gap %.4f ± %.4f; L_0 %.3g, L_9 %.3g, L_100 %.3g, prior %.2g",
			vt, res.MeanTotal(), mean(dataNLL), gap, se, vbm[0], vbm[9], vbm[100], mean(res.Prior))
		if gap < -5*se {
			t.Errorf("%v: bound is %.4f ± %.4f bits/dim below the data's NLL: it cannot be a bound", vt, -gap, se)
		}
		maxGap := map[VarianceType]float64{FixedLarge: 0.15, FixedSmall: 0.1 * mean(dataNLL)}[vt]
		if gap > maxGap {
			t.Errorf("%v: bound %.4f is %.4f above the data's NLL %.4f, more than %.3g", vt, res.MeanTotal(), gap, mean(dataNLL), maxGap)
		}
		for tt, mv := range vbm {
			if mv < -1e-6 {
				t.Fatalf("%v: mean L_t at t=%d is %g < 0", vt, tt, mv)
			}
		}
		if !(vbm[100] < 0.01*vbm[0]) {
			t.Errorf("%v: L_100 = %g is not two orders of magnitude below L_0 = %g", vt, vbm[100], vbm[0])
		}
	}
}

// TestHybridStopsMeanGradient: in the hybrid loss the bound reaches only the
// variance, so the gradient with respect to a parameter of the mean equals
// that of L_simple alone, while the variance parameter gets a gradient.
func TestHybridStopsMeanGradient(t *testing.T) {
	d := newTestDiffusion(t, Linear, 1000, Epsilon, LearnedRange, Hybrid)
	oracle := oracleDenoiser(d.Schedule)
	model := func(ctx *context.Context, xt, t *Node) *Node {
		w := ctx.VariableWithValue("w", float32(0.8)).ValueGraph(xt.Graph())
		v := ctx.VariableWithValue("v", float32(0.3)).ValueGraph(xt.Graph())
		eps := Mul(w, oracle(ctx, xt, t))
		return Concatenate([]*Node{eps, Add(ZerosLike(eps), v)}, -1)
	}
	ctx := context.New()
	x0 := tensors.FromFlatDataAndDimensions([]float32{0.5, -0.25, 0.1, 0.9}, 2, 1, 2, 1)
	noise := tensors.FromFlatDataAndDimensions([]float32{0.3, -1.2, 0.7, 0.2}, 2, 1, 2, 1)
	out, err := context.ExecOnceN(testBackend(t), ctx, func(ctx *context.Context, x0, noise *Node) []*Node {
		tt := Const(x0.Graph(), []int32{5, 600})
		l := d.TrainingLosses(ctx, model, x0, tt, noise)
		w := ctx.GetVariable("w").ValueGraph(x0.Graph())
		v := ctx.GetVariable("v").ValueGraph(x0.Graph())
		grads := Gradient(ReduceAllSum(l.Loss), w, v)
		gMSE := Gradient(ReduceAllSum(l.MSE), w)
		return []*Node{grads[0], gMSE[0], grads[1]}
	}, x0, noise)
	if err != nil && strings.Contains(err.Error(), "not implemented") {
		// The pure-Go backend of GoMLX v0.26.0 has no Pad, which the gradient of slicing needs.
		t.Skipf("the backend cannot differentiate channel slicing: %v", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	gw, gwMSE, gv := toFloat64(out[0])[0], toFloat64(out[1])[0], toFloat64(out[2])[0]
	if !near(gw, gwMSE, 1e-6) {
		t.Errorf("hybrid d/dw = %g, L_simple d/dw = %g: the bound leaked into the mean", gw, gwMSE)
	}
	if gv == 0 {
		t.Error("hybrid d/dv = 0: the bound must train the variance")
	}
}

// TestLossAwareSampler: once warmed up, p_t is proportional to the root mean
// square of the recorded losses, mixed with 0.001 of uniform, and the weights
// 1/(T p_t) make the weighted loss unbiased.
func TestLossAwareSampler(t *testing.T) {
	const T = 4
	s := NewLossAwareSampler(T)
	if p := s.Probabilities(); p[0] != 0.25 {
		t.Fatalf("before warm-up p=%v, want uniform", p)
	}
	for range 10 {
		s.Update([]int32{0, 1, 2, 3}, []float32{1, 2, 3, 4})
	}
	p := s.Probabilities()
	for k, want := range []float64{1, 2, 3, 4} {
		want = want/10*(1-0.001) + 0.001/T
		if !near(p[k], want, 1e-9) {
			t.Errorf("p[%d]=%g, want %g", k, p[k], want)
		}
	}
	ts, w := s.Sample(rand.New(rand.NewPCG(1, 1)), 20000)
	counts := make([]float64, T)
	for i, k := range ts {
		counts[k]++
		if !near(float64(w[i]), 1/(T*p[k]), 1e-6) {
			t.Fatalf("weight %g for t=%d, want 1/(T p)=%g", w[i], k, 1/(T*p[k]))
		}
	}
	for k := range counts {
		// Binomial: 5 standard errors.
		if f, tol := counts[k]/20000, 5*math.Sqrt(p[k]*(1-p[k])/20000); math.Abs(f-p[k]) > tol {
			t.Errorf("t=%d drawn with frequency %g, want %g ± %g", k, f, p[k], tol)
		}
	}
}

func TestStrataCoverTimesteps(t *testing.T) {
	for _, tc := range []struct{ T, k int }{{1000, 20}, {1000, 1}, {10, 9}, {10, 50}, {4000, 30}} {
		s := Strata(tc.T, tc.k)
		next := 1
		for _, st := range s {
			if st[0] != next || st[1] <= st[0] {
				t.Fatalf("T=%d k=%d: strata %v leave a gap or an empty stratum at %v", tc.T, tc.k, s, st)
			}
			next = st[1]
		}
		if next != tc.T || len(s) != min(tc.k, tc.T-1) {
			t.Errorf("T=%d k=%d: strata %v do not cover [1, %d) in %d parts", tc.T, tc.k, s, tc.T, min(tc.k, tc.T-1))
		}
	}
}

// TestStratifiedBPDIsUnbiased: the stratified estimate's mean agrees with the
// full chain's within 5 of its standard errors (the estimate is unbiased; its
// spread across examples includes the sampling of t).
func TestStratifiedBPDIsUnbiased(t *testing.T) {
	if testing.Short() {
		t.Skip("1000-step bits/dim skipped in -short mode")
	}
	const B = 1000
	d := newTestDiffusion(t, Linear, 1000, Epsilon, FixedLarge, VLB)
	probs := [][]float64{discretizedGaussian(oracleMu[0], oracleStd[0]), discretizedGaussian(oracleMu[1], oracleStd[1])}
	rng := rand.New(rand.NewPCG(4, 4))
	data := make([]float32, B*2)
	for i := range data {
		u, p, k := rng.Float64(), probs[i%2], 0
		for acc := p[0]; acc < u && k < 255; acc += p[k+1] {
			k++
		}
		data[i] = float32(float64(k)/127.5 - 1)
	}
	x0 := tensors.FromFlatDataAndDimensions(data, B, 1, 2, 1)
	den := discreteOracle(d.Schedule, probs)
	full, err := CalcBPD(testBackend(t), nil, d, den, x0, BPDOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	est, err := CalcBPD(testBackend(t), nil, d, den, x0, BPDOptions{Seed: 2, Strata: 20})
	if err != nil {
		t.Fatal(err)
	}
	m, se := mean(est.Total), 0.0
	for _, v := range est.Total {
		se += (v - m) * (v - m)
	}
	se = math.Sqrt(se/(B-1)) / math.Sqrt(B)
	t.Logf("full chain %.4f bits/dim; 21-pass stratified estimate %.4f ± %.4f", full.MeanTotal(), m, se)
	if math.Abs(m-full.MeanTotal()) > 5*se {
		t.Errorf("stratified estimate %.4f ± %.4f, full chain %.4f", m, se, full.MeanTotal())
	}
	if est.VB != nil {
		t.Error("a stratified estimate has no per-t table")
	}
	// L_0 is computed exactly in both, with other noise: the same mean within
	// its spread, and in the estimate a part of each example's total.
	if len(est.Decoder) != B {
		t.Fatalf("the estimate has L_0 for %d examples, want %d", len(est.Decoder), B)
	}
	dm, dse := mean(est.Decoder), 0.0
	for i, v := range est.Decoder {
		dse += (v - dm) * (v - dm)
		if rest := est.Total[i] - est.Prior[i] - v; rest < 0 {
			t.Errorf("example %d: the terms besides L_0 sum to %g < 0", i, rest)
		}
	}
	dse = math.Sqrt(dse/(B-1)) / math.Sqrt(B)
	if f := mean(full.VB[0]); mean(full.Decoder) != f || math.Abs(dm-f) > 5*dse+1e-9 {
		t.Errorf("L_0: stratified %.4f ± %.4f, full chain %.4f (its Decoder %.4f)", dm, dse, f, mean(full.Decoder))
	}
}

// TestLossAwareSamplerHistory: with losses that change over time, the sampler
// stays uniform until every t has HistoryPerTerm losses (one t short is
// enough to keep it uniform), then uses the root mean square of only the last
// HistoryPerTerm losses of each t: older ones leave the ring buffer.
// Non-finite losses and out-of-range t are ignored.
func TestLossAwareSamplerHistory(t *testing.T) {
	const T, H = 3, 4
	s := &LossAwareSampler{T: T, HistoryPerTerm: H, UniformProb: 0.01}
	for i := range H {
		s.Update([]int32{0, 1}, []float32{float32(i + 1), 100})
		s.Update([]int32{2}, []float32{float32(math.NaN())})
		s.Update([]int32{7, -1}, []float32{5, 5})
	}
	if p := s.Probabilities(); p[0] != 1.0/T || p[2] != 1.0/T {
		t.Fatalf("t=2 has no finite loss yet, but p=%v is not uniform", p)
	}
	for range H - 1 {
		s.Update([]int32{2}, []float32{3})
	}
	if p := s.Probabilities(); p[1] != 1.0/T {
		t.Fatalf("t=2 has %d of %d losses, but p=%v is not uniform", H-1, H, p)
	}
	s.Update([]int32{2}, []float32{3})
	// Now t=0 holds 1, 2, 3, 4; t=1 holds 100 four times; t=2 holds 3 four times.
	rms := []float64{math.Sqrt((1 + 4 + 9 + 16) / 4.0), 100, 3}
	check := func(when string) {
		t.Helper()
		sum := rms[0] + rms[1] + rms[2]
		p := s.Probabilities()
		for k := range T {
			want := rms[k]/sum*(1-0.01) + 0.01/T
			if !near(p[k], want, 1e-12) {
				t.Errorf("%s: p[%d] = %.12g, want %.12g", when, k, p[k], want)
			}
		}
	}
	check("warmed up")
	// Two newer losses for t=0 push out the two oldest (1 and 2).
	s.Update([]int32{0, 0}, []float32{10, 20})
	rms[0] = math.Sqrt((9 + 16 + 100 + 400) / 4.0)
	check("after the window moved")
}

// TestMinSNRWeighting: with min-SNR-gamma, the weighted MSE of every
// prediction type equals min(SNR_t, gamma) times the squared error of the x_0
// its prediction implies (Hang et al.'s definition), for timesteps on both
// sides of SNR_t = gamma; with gamma = 0 the weights are all one.
func TestMinSNRWeighting(t *testing.T) {
	const gamma = 5.0
	ts := []int32{3, 120, 500, 999} // SNR_t from ~800 to ~4e-5 on the linear schedule
	x0 := tensors.FromFlatDataAndDimensions([]float32{0.5, -0.25, 0.1, 0.9, -0.7, 0.3, 0.0, -1}, 4, 1, 2, 1)
	noise := tensors.FromFlatDataAndDimensions([]float32{0.3, -1.2, 0.7, 0.2, 1.1, -0.4, -0.9, 0.05}, 4, 1, 2, 1)
	model := func(_ *context.Context, xt, _ *Node) *Node { return AddScalar(MulScalar(xt, 0.7), 0.1) }
	for _, p := range []Prediction{Epsilon, X0, V, Mean} {
		d := newTestDiffusion(t, Linear, 1000, p, FixedLarge, Simple)
		for _, w := range d.MSEWeights() {
			if w != 1 {
				t.Fatalf("%v: weight %g without min-SNR, want 1", p, w)
			}
		}
		d.MinSNRGamma = gamma
		out := run(t, func(x0, noise *Node) []*Node {
			tt := Const(x0.Graph(), ts)
			l := d.TrainingLosses(context.New(), model, x0, tt, noise)
			xt := d.QSample(x0, tt, noise)
			pred := model(nil, xt, tt)
			var x0hat *Node
			switch p {
			case Epsilon:
				x0hat = d.PredictX0FromEps(xt, tt, pred)
			case X0:
				x0hat = pred
			case V:
				x0hat = d.PredictX0FromV(xt, tt, pred)
			case Mean:
				x0hat = d.PredictX0FromMean(xt, tt, pred)
			}
			return []*Node{l.MSE, meanFlat(Square(Sub(x0, x0hat)))}
		}, x0, noise)
		for i, ti := range ts {
			ab := d.Schedule.AlphasCumprod[ti]
			want := math.Min(ab/(1-ab), gamma) * out[1][i]
			if !near(out[0][i], want, 1e-4*math.Max(1, math.Abs(want))) {
				t.Errorf("%v at t=%d: weighted MSE %g, want min(SNR, %g) |x0 - x0hat|^2 = %g", p, ti, out[0][i], gamma, want)
			}
		}
	}
}
