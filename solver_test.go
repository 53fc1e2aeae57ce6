package ddpm

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// For Gaussian data N(mu, v) per dimension the probability-flow ODE has a
// closed-form solution. In y = x / alpha and s = sigma / alpha the optimal
// prediction of x_0 is D(y; s) = mu + v / (v + s^2) (y - mu), so
// dy/ds = (y - D) / s = (y - mu) s / (v + s^2), whose solution is
//
//	y(s) - mu = (y(s') - mu) sqrt((v + s^2) / (v + s'^2)).
//
// The solvers integrate from s_T to s_0 (t = 0) and then return D(y; s_0), so
// the exact answer they approximate is
//
//	x_0 = mu + (x_T / alpha_T - mu) sqrt((v + s_0^2) / (v + s_T^2)) v / (v + s_0^2).
func exactFlow(s *Schedule, from int, x float64, mu, v float64) float64 {
	sig2 := func(t int) float64 { return (1 - s.AlphasCumprod[t]) / s.AlphasCumprod[t] }
	y := x / s.SqrtAlphasCumprod[from]
	y0 := mu + (y-mu)*math.Sqrt((v+sig2(0))/(v+sig2(from)))
	return mu + v/(v+sig2(0))*(y0-mu)
}

// solverError returns the root-mean-square difference between the solver's
// x_0 and the exact flow for a fixed x_T of n points, in float64.
func solverError(t *testing.T, sampler *Sampler, xT []float64, opts SampleOptions) float64 {
	t.Helper()
	n := len(xT) / 2
	opts.Noise = tensors.FromFlatDataAndDimensions(xT, n, 1, 2, 1)
	res, err := sampler.Sample(nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	got := toFloat64(res.Images)
	sum := 0.0
	for i, x := range xT {
		k := i % 2
		want := exactFlow(sampler.Diffusion.Schedule, sampler.Diffusion.Schedule.T-1, x, oracleMu[k], oracleStd[k]*oracleStd[k])
		sum += (got[i] - want) * (got[i] - want)
	}
	return math.Sqrt(sum / float64(len(xT)))
}

func gaussianNoise(n int, seed uint64) []float64 {
	rng := rand.New(rand.NewPCG(seed, seed))
	out := make([]float64, n)
	for i := range out {
		out[i] = rng.NormFloat64()
	}
	return out
}

// TestSolverOrder: with the exact denoiser of Gaussian data both solvers
// converge to the closed-form flow, at second order (Lu et al. 2022, Theorem
// 3.2 for DPM-Solver++(2M); Heun's method is second order too): doubling the
// evaluations divides the error by about 4 once the steps are small. The test
// asks for a ratio of at least 3 at every doubling from 8 to 64 (the first
// doublings are still outside the asymptotic regime; timesteps are rounded to
// the schedule's, which perturbs the spacing but not the order).
func TestSolverOrder(t *testing.T) {
	d := newTestDiffusion(t, Linear, 1000, Epsilon, FixedSmall, Simple)
	sampler := NewSampler(testBackend(t), nil, d, oracleDenoiser(d.Schedule))
	xT := gaussianNoise(2*64, 5)
	for _, tc := range []struct {
		method  Method
		spacing Spacing
		evals   []int
	}{
		{DPMSolver, TimeUniform, []int{64, 128, 256, 512}}, // The step into t = 0 dominates until the steps are short.
		{DPMSolver, LogSNR, []int{16, 32, 64, 128}},
		{Heun, Karras, []int{9, 17, 33, 65}}, // 2K-1 evaluations for K = 5, 9, 17, 33 points.
	} {
		t.Run(tc.method.String()+"/"+tc.spacing.String(), func(t *testing.T) {
			var errs []float64
			for _, n := range tc.evals {
				errs = append(errs, solverError(t, sampler, xT, SampleOptions{Method: tc.method, Spacing: tc.spacing, Steps: itoa(n)}))
			}
			t.Logf("RMS error at %v evaluations: %.3g", tc.evals, errs)
			for i := 1; i < len(errs); i++ {
				if ratio := errs[i-1] / errs[i]; !(ratio >= 3) {
					t.Errorf("error %.3g at %d evaluations, %.3g at %d: ratio %.2f, want >= 3 (second order)",
						errs[i-1], tc.evals[i-1], errs[i], tc.evals[i], ratio)
				}
			}
		})
	}
}

// TestSolverLaw: 20 evaluations of DPM-Solver++ from x_T ~ N(0, I) draw from
// the data's law: the exact flow maps N(0, 1) to N(mu, v) up to the prior's
// mismatch (abar_T is 4e-5) and the final denoising at s_0 = 0.01, both far
// below the sampling error checked here (5 standard errors at N = 4000).
func TestSolverLaw(t *testing.T) {
	const N = 4000
	d := newTestDiffusion(t, Linear, 1000, Epsilon, FixedLarge, Simple)
	sampler := NewSampler(testBackend(t), nil, d, oracleDenoiser(d.Schedule))
	for _, m := range []Method{DPMSolver, Heun} {
		steps := map[Method]string{DPMSolver: "20", Heun: "65"}[m]
		res, err := sampler.Sample([]int{N, 1, 2, 1}, SampleOptions{Method: m, Steps: steps, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		mean, variance := sampleStats(toFloat64(res.Images))
		for k := range 2 {
			v := oracleStd[k] * oracleStd[k]
			if tol := 5 * math.Sqrt(v/N); math.Abs(mean[k]-oracleMu[k]) > tol {
				t.Errorf("%v dim %d: mean %.4f, want %.4f ± %.4f", m, k, mean[k], oracleMu[k], tol)
			}
			if tol := 5 * v * math.Sqrt(2.0/N); math.Abs(variance[k]-v) > tol {
				t.Errorf("%v dim %d: variance %.4f, want %.4f ± %.4f", m, k, variance[k], v, tol)
			}
		}
	}
}

// TestSolverDeterministic: the solvers are deterministic maps of x_T: the
// same x_T gives the same x_0 with any seed, and the same seed the same x_T.
// Snapshots come at the visited timesteps.
func TestSolverDeterministic(t *testing.T) {
	d := newTestDiffusion(t, Linear, 1000, Epsilon, FixedSmall, Simple)
	sampler := NewSampler(testBackend(t), nil, d, oracleDenoiser(d.Schedule))
	xT := tensors.FromFlatDataAndDimensions(float32s(gaussianNoise(2*32, 9)), 32, 1, 2, 1)
	for _, m := range []Method{DPMSolver, Heun} {
		run := func(opts SampleOptions) []float64 { return sample10(t, sampler, m, opts) }
		if a, b := run(SampleOptions{Noise: xT, Seed: 1}), run(SampleOptions{Noise: xT, Seed: 2}); !slices.Equal(a, b) {
			t.Errorf("%v from the same x_T with two seeds: different images", m)
		}
		if a, b := run(SampleOptions{Seed: 4}), run(SampleOptions{Seed: 4}); !slices.Equal(a, b) {
			t.Errorf("%v with the same seed twice: different images", m)
		}
	}
	res, err := sampler.Sample([]int{4, 1, 2, 1}, SampleOptions{Method: DPMSolver, Steps: "10", Spacing: TimeUniform, Capture: []int{999, 500, 0}})
	if err != nil {
		t.Fatal(err)
	}
	// Time-uniform over 10 points: round(999 k / 9); 444 is the last at or below 500.
	var got []int
	for _, s := range res.Snapshots {
		got = append(got, s.T)
	}
	if want := []int{999, 444, 0}; !slices.Equal(got, want) {
		t.Errorf("snapshots at %v, want %v", got, want)
	}
}

// sample10 draws 32 two-pixel images with method m in 10 steps.
func sample10(t *testing.T, sampler *Sampler, m Method, opts SampleOptions) []float64 {
	t.Helper()
	opts.Method, opts.Steps = m, "10"
	res, err := sampler.Sample([]int{32, 1, 2, 1}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return toFloat64(res.Images)
}

// TestSolverTimesteps: the points are distinct, decreasing, from the start to
// 0, and uniform in the spacing's variable where the schedule allows.
func TestSolverTimesteps(t *testing.T) {
	s, err := NewSchedule(Linear, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, sp := range []Spacing{TimeUniform, LogSNR, Karras} {
		for _, n := range []int{1, 2, 5, 20, 100, 1000} {
			ts, err := SolverTimesteps(s, 999, n, sp)
			if err != nil {
				t.Fatalf("%v, %d points: %v", sp, n, err)
			}
			if len(ts) != n || ts[0] != 999 || (n > 1 && ts[n-1] != 0) {
				t.Errorf("%v, %d points: %v does not run from 999 to 0", sp, n, ts)
			}
			for i := 1; i < len(ts); i++ {
				if ts[i] >= ts[i-1] {
					t.Errorf("%v, %d points: not strictly decreasing at %d: %v", sp, n, i, ts)
					break
				}
			}
		}
	}
	ts, _ := SolverTimesteps(s, 999, 4, TimeUniform)
	if want := []int{999, 666, 333, 0}; !slices.Equal(ts, want) {
		t.Errorf("time-uniform 4 points: %v, want %v", ts, want)
	}
	// LogSNR: lambda at 5 points is within half a step of lambda's grid, the
	// middle one at lambda = (lambda_999 + lambda_0) / 2.
	ts, _ = SolverTimesteps(s, 999, 5, LogSNR)
	lam := func(t int) float64 { return 0.5 * math.Log(s.AlphasCumprod[t]/(1-s.AlphasCumprod[t])) }
	mid := (lam(999) + lam(0)) / 2
	if !(lam(ts[2]+1) <= mid && mid <= lam(ts[2]-1)) {
		t.Errorf("logSNR middle point t=%d has lambda %.3f; the grid's middle is %.3f", ts[2], lam(ts[2]), mid)
	}
	if _, err := SolverTimesteps(s, 999, 1001, LogSNR); err == nil {
		t.Error("1001 points from t=999: no error")
	}
}

// TestSampleOptionErrors: bad requests are refused with a message naming the problem.
func TestSampleOptionErrors(t *testing.T) {
	d := newTestDiffusion(t, Linear, 1000, Epsilon, FixedSmall, Simple)
	sampler := NewSampler(testBackend(t), nil, d, oracleDenoiser(d.Schedule))
	for _, tc := range []struct {
		opts SampleOptions
		want string
	}{
		{SampleOptions{Method: DPMSolver, Steps: "0"}, "integer in [1, 1000]"},
		{SampleOptions{Method: DPMSolver, Steps: "1001"}, "integer in [1, 1000]"},
		{SampleOptions{Method: Heun, Steps: "ddim50"}, "number of network evaluations"},
		{SampleOptions{Method: DDIM, Eta: -1}, "must lie in [0, 1]"},
		{SampleOptions{Method: DDIM, Eta: 1.5}, "must lie in [0, 1]"},
		{SampleOptions{Method: Ancestral, Eta: 0.5}, "applies to DDIM only"},
		{SampleOptions{Method: DDIM, Spacing: LogSNR}, "applies to the solvers"},
		{SampleOptions{Method: Method(9)}, "unknown sampling method"},
	} {
		_, err := sampler.Sample([]int{2, 1, 2, 1}, tc.opts)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.opts, err, tc.want)
		}
	}
	if _, err := ParseMethod("dpm-solver"); err == nil || !strings.Contains(err.Error(), "dpm-solver++") {
		t.Errorf("ParseMethod(dpm-solver): %v, want the valid names listed", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func float32s(xs []float64) []float32 {
	out := make([]float32, len(xs))
	for i, x := range xs {
		out[i] = float32(x)
	}
	return out
}

// TestSolverStepOnLinearData: one DPM-Solver++(2M) step from s to t, when
// the data prediction is linear in lambda along the path, D(lambda) = a +
// b lambda. The exact solution of the ODE (Lu et al. 2022, eq. 8) is
//
//	x_t = (sigma_t/sigma_s) x_s + sigma_t int_{lambda_s}^{lambda_t} e^lambda (a + b lambda) dlambda
//	    = (sigma_t/sigma_s) x_s + alpha_t [(1 - e^-h)(a + b lambda_s - b) + b h],
//
// and the 2M step sees D_s = a + b lambda_s and D_prev = a + b (lambda_s -
// h_prev), so its extrapolated slope is exactly b: it misses the exact
// solution only by replacing phi_2 with phi_1 / 2, which is
//
//	x_exact - x_2M = alpha_t b [h - (1 - e^-h)(1 + h/2)]
//
// for any previous step h_prev. The check uses uneven steps (h_prev = h/3
// and 2h), where a wrong ratio r = h_prev/h would show.
func TestSolverStepOnLinearData(t *testing.T) {
	s, err := NewSchedule(Linear, 1000)
	if err != nil {
		t.Fatal(err)
	}
	lambda := func(t int) float64 { return math.Log(s.SqrtAlphasCumprod[t] / s.SqrtOneMinusAlphasCumprod[t]) }
	const a, b, xs = 0.3, -0.7, 1.9
	for _, tc := range []struct{ from, to int }{{800, 600}, {300, 250}, {60, 20}} {
		h := lambda(tc.to) - lambda(tc.from)
		for _, hPrev := range []float64{h / 3, 2 * h} {
			cx, c0, c1, _, gotH := solverCoefs(s, tc.from, tc.to, hPrev, 0)
			if math.Abs(gotH-h) > 1e-12 {
				t.Fatalf("h = %g, want %g", gotH, h)
			}
			dS, dPrev := a+b*lambda(tc.from), a+b*(lambda(tc.from)-hPrev)
			got := cx*xs + c0*dS + c1*dPrev
			sigT, sigS, alphaT := s.SqrtOneMinusAlphasCumprod[tc.to], s.SqrtOneMinusAlphasCumprod[tc.from], s.SqrtAlphasCumprod[tc.to]
			exact := sigT/sigS*xs + alphaT*((1-math.Exp(-h))*(a+b*lambda(tc.from)-b)+b*h)
			want := exact - alphaT*b*(h-(1-math.Exp(-h))*(1+h/2))
			if math.Abs(got-want) > 1e-12 {
				t.Errorf("step %d -> %d with h_prev = %.3g h: x = %.15g, want %.15g", tc.from, tc.to, hPrev/h, got, want)
			}
		}
	}
}

// TestSDESolverCoefs: the first-order step of DPMSolverSDE between adjacent
// timesteps is the DDPM posterior q(x_{t-1} | x_t, x_0) with x_0 = D: its
// weights of x_t and x_0 and its variance are the schedule's (eqs. 6-7).
func TestSDESolverCoefs(t *testing.T) {
	s, err := NewSchedule(Linear, 1000)
	if err != nil {
		t.Fatal(err)
	}
	for _, ti := range []int{1, 2, 10, 500, 999} {
		cx, c0, c1, cn, _ := solverCoefs(s, ti, ti-1, 0, 1)
		for _, c := range []struct {
			name      string
			got, want float64
		}{
			{"weight of x_t", cx, s.PosteriorMeanCoef2[ti]},
			{"weight of x_0", c0, s.PosteriorMeanCoef1[ti]},
			{"variance", cn * cn, s.PosteriorVariance[ti]},
			{"weight of the previous prediction", c1, 0},
		} {
			if math.Abs(c.got-c.want) > 1e-12*math.Max(1, math.Abs(c.want)) && math.Abs(c.got-c.want) > 1e-9*math.Abs(c.want) {
				t.Errorf("t=%d: %s %.15g, want %.15g", ti, c.name, c.got, c.want)
			}
		}
	}
	// Second order: the weights of D_cur and D_prev sum to the first-order one.
	_, c0, c1, _, _ := solverCoefs(s, 500, 400, 0.3, 1)
	_, f0, _, _, _ := solverCoefs(s, 500, 400, 0, 1)
	if math.Abs(c0+c1-f0) > 1e-12 || c1 >= 0 {
		t.Errorf("second-order weights %g + %g, want a sum of %g with a negative weight of D_prev", c0, c1, f0)
	}
}

// TestSDESolverLaw: with the exact denoiser of Gaussian data,
// DPMSolverSDE from x_T ~ N(0, I) draws the data's mean and variance at 100
// logSNR-spaced steps and at all 1000 timesteps (where it is the posterior
// chain, DDPM with the fixed-small variance); at 3 steps it misses the
// variance of x_0 given x_t. With 100 time-uniform steps it overshoots the
// variance of the narrow dimension (logged, not checked: the second-order
// term extrapolates fresh noise across the uneven lambda-steps near t = 0;
// docs/sampling.md). It is random given x_T, and reproducible given the seed.
func TestSDESolverLaw(t *testing.T) {
	const N = 4000
	d := newTestDiffusion(t, Linear, 1000, Epsilon, FixedLarge, Simple)
	sampler := NewSampler(testBackend(t), nil, d, oracleDenoiser(d.Schedule))
	varErr := map[string]float64{}
	for _, c := range []struct {
		steps string
		sp    Spacing
		check bool
	}{{"3", LogSNR, false}, {"100", LogSNR, true}, {"1000", TimeUniform, true}, {"100", TimeUniform, false}} {
		res, err := sampler.Sample([]int{N, 1, 2, 1}, SampleOptions{Method: DPMSolverSDE, Steps: c.steps, Spacing: c.sp, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		mean, variance := sampleStats(toFloat64(res.Images))
		for k := range 2 {
			v := oracleStd[k] * oracleStd[k]
			t.Logf("%s steps, %v spacing, dim %d: mean %.4f (want %.4f), variance %.4f (want %.4f)", c.steps, c.sp, k, mean[k], oracleMu[k], variance[k], v)
			if c.sp == LogSNR {
				varErr[c.steps] += math.Abs(variance[k]/v - 1)
			}
			if !c.check {
				continue
			}
			if tol := 5 * math.Sqrt(v/N); math.Abs(mean[k]-oracleMu[k]) > tol {
				t.Errorf("%s steps, %v: dim %d: mean %.4f, want %.4f ± %.4f", c.steps, c.sp, k, mean[k], oracleMu[k], tol)
			}
			if tol := 5 * v * math.Sqrt(2.0/N); math.Abs(variance[k]-v) > tol {
				t.Errorf("%s steps, %v: dim %d: variance %.4f, want %.4f ± %.4f", c.steps, c.sp, k, variance[k], v, tol)
			}
		}
	}
	if varErr["100"] >= varErr["3"] {
		t.Errorf("relative variance error %.4f at 100 steps, not below %.4f at 3", varErr["100"], varErr["3"])
	}
	xT := tensors.FromFlatDataAndDimensions(float32s(gaussianNoise(2*32, 9)), 32, 1, 2, 1)
	run := func(opts SampleOptions) []float64 { return sample10(t, sampler, DPMSolverSDE, opts) }
	if a, b := run(SampleOptions{Noise: xT, Seed: 1}), run(SampleOptions{Noise: xT, Seed: 2}); slices.Equal(a, b) {
		t.Error("the same x_T with two seeds gave the same images: no noise was added")
	}
	if a, b := run(SampleOptions{Seed: 4}), run(SampleOptions{Seed: 4}); !slices.Equal(a, b) {
		t.Error("the same seed twice gave different images")
	}
}
