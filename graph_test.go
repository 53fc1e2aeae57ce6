package ddpm

import (
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// run executes a graph function once and returns its outputs as float64 slices.
func run(t testing.TB, fn any, args ...any) [][]float64 {
	t.Helper()
	out, err := execOnce(testBackend(t), fn, args...)
	if err != nil {
		t.Fatal(err)
	}
	res := make([][]float64, len(out))
	for i, o := range out {
		res[i] = toFloat64(o)
	}
	return res
}

func TestNormalKL(t *testing.T) {
	got := run(t, func(g *Graph) []*Node {
		c := func(v float64) *Node { return Const(g, v) }
		return []*Node{
			NormalKL(c(0.3), c(-1.2), c(0.3), c(-1.2)), // equal Gaussians: 0
			// KL(N(1, 1) || N(0, 4)) = log(2/1) + (1 + 1)/(2*4) - 1/2 = ln 2 - 1/4.
			NormalKL(c(1), c(0), c(0), c(math.Log(4))),
			// KL(N(0, 4) || N(0, 1)) = log(1/2) + 4/2 - 1/2 = 1.5 - ln 2.
			NormalKL(c(0), c(math.Log(4)), c(0), c(0)),
		}
	})
	for i, want := range []float64{0, math.Ln2 - 0.25, 1.5 - math.Ln2} {
		if !near(got[i][0], want, 1e-12) {
			t.Errorf("case %d: KL=%.15g, want %.15g", i, got[i][0], want)
		}
	}
}

// TestDiscretizedLikelihoodSumsToOne: the 256 bins tile the real line (the
// edge bins are open), so their probabilities telescope to exactly 1.
func TestDiscretizedLikelihoodSumsToOne(t *testing.T) {
	levels := make([]float64, 256)
	for i := range levels {
		levels[i] = float64(i)/127.5 - 1
	}
	for _, tc := range []struct{ mean, logScale float64 }{
		{0, math.Log(0.1)}, {0.5, math.Log(0.01)}, {-0.98, math.Log(0.3)}, {1.3, math.Log(1)}, {0.2, math.Log(1e-3)},
	} {
		got := run(t, func(x *Node) *Node {
			ll := DiscretizedGaussianLogLikelihood(x, ScalarLike(x, tc.mean), ScalarLike(x, tc.logScale))
			return ReduceAllSum(Exp(ll))
		}, levels)[0][0]
		// Bins clamped at 1e-12 can add at most 256e-12.
		if math.Abs(got-1) > 1e-9 {
			t.Errorf("mean %g, scale %g: sum of probabilities %.12f, want 1", tc.mean, math.Exp(tc.logScale), got)
		}
	}
	// One interior bin against the formula: Phi((x+1/255-m)/s) - Phi((x-1/255-m)/s), with the tanh CDF.
	phi := func(x float64) float64 { return 0.5 * (1 + math.Tanh(math.Sqrt(2/math.Pi)*(x+0.044715*x*x*x))) }
	x, m, s := levels[140], 0.1, 0.05
	want := math.Log(phi((x+1.0/255-m)/s) - phi((x-1.0/255-m)/s))
	got := run(t, func(x *Node) *Node {
		return DiscretizedGaussianLogLikelihood(x, ScalarLike(x, m), ScalarLike(x, math.Log(s)))
	}, []float64{x})[0][0]
	if !near(got, want, 1e-12) {
		t.Errorf("log-likelihood of %g: %g, want %g", x, got, want)
	}
}

func newTestDiffusion(t testing.TB, kind BetaSchedule, T int, p Prediction, v VarianceType, l LossType) *Diffusion {
	t.Helper()
	s, err := NewSchedule(kind, T)
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDiffusion(s, p, v, l)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestParameterizationRoundTrips: x_0 recovered from q_sample with the true
// noise, through each parameterization's inverse.
func TestParameterizationRoundTrips(t *testing.T) {
	d := newTestDiffusion(t, Cosine, 1000, Epsilon, FixedSmall, Simple)
	x0 := tensors.FromFlatDataAndDimensions([]float64{0.9, -0.3, 0.0, 0.5, -1, 0.25, 0.7, -0.8}, 4, 1, 2, 1)
	eps := tensors.FromFlatDataAndDimensions([]float64{1.2, -0.4, 0.3, -2.0, 0.1, 0.8, -1.1, 0.6}, 4, 1, 2, 1)
	ts := []int32{0, 17, 500, 998}
	got := run(t, func(x0, eps, tt *Node) []*Node {
		xt := d.QSample(x0, tt, eps)
		mean, _, _ := d.QPosterior(x0, xt, tt)
		return []*Node{
			d.PredictX0FromEps(xt, tt, eps),
			d.PredictEpsFromX0(xt, tt, x0),
			d.PredictX0FromV(xt, tt, d.VTarget(x0, tt, eps)),
			d.PredictX0FromMean(xt, tt, mean),
		}
	}, x0, eps, ts)
	want := [][]float64{toFloat64(x0), toFloat64(eps), toFloat64(x0), toFloat64(x0)}
	names := []string{"x0 from eps", "eps from x0", "x0 from v", "x0 from posterior mean"}
	for k := range got {
		for i := range got[k] {
			if !near(got[k][i], want[k][i], 1e-6) {
				t.Errorf("%s, element %d (t=%d): %g, want %g", names[k], i, ts[i/2], got[k][i], want[k][i])
			}
		}
	}
}

// TestQPosteriorMatchesHostFormula compares the graph posterior with eq. 7
// evaluated on the host.
func TestQPosteriorMatchesHostFormula(t *testing.T) {
	d := newTestDiffusion(t, Linear, 1000, Epsilon, FixedSmall, Simple)
	s := d.Schedule
	x0v, xtv := []float64{0.4, -0.6}, []float64{1.1, 0.2}
	ts := []int32{1, 700}
	got := run(t, func(x0, xt, tt *Node) []*Node {
		m, v, lv := d.QPosterior(x0, xt, tt)
		return []*Node{m, v, lv}
	}, tensors.FromFlatDataAndDimensions(x0v, 2, 1), tensors.FromFlatDataAndDimensions(xtv, 2, 1), ts)
	for i, tt := range ts {
		ab, abp, b := s.AlphasCumprod[tt], s.AlphasCumprodPrev[tt], s.Betas[tt]
		wantMean := math.Sqrt(abp)*b/(1-ab)*x0v[i] + math.Sqrt(1-b)*(1-abp)/(1-ab)*xtv[i]
		wantVar := (1 - abp) / (1 - ab) * b
		if !near(got[0][i], wantMean, 1e-12) || !near(got[1][i], wantVar, 1e-12) || !near(got[2][i], math.Log(wantVar), 1e-12) {
			t.Errorf("t=%d: posterior (%g, %g, %g), want (%g, %g, %g)", tt, got[0][i], got[1][i], got[2][i], wantMean, wantVar, math.Log(wantVar))
		}
	}
}

// TestQSampleStatistics: with x_0 fixed, x_t has mean sqrt(abar_t) x_0 and
// variance 1 - abar_t. n = 200000 draws; the tolerance is 5 standard errors
// (mean: sqrt(var/n); variance: var sqrt(2/n)).
func TestQSampleStatistics(t *testing.T) {
	d := newTestDiffusion(t, Linear, 1000, Epsilon, FixedSmall, Simple)
	const n = 200000
	for _, tt := range []int32{0, 250, 999} {
		x0 := 0.7
		got := run(t, func(g *Graph) []*Node {
			rng := RNGStateFromSeedForGraph(g, 42)
			_, noise := RandomNormal(rng, shapes.Make(dtypes.Float64, n, 1))
			x := BroadcastToDims(Const(g, x0), n, 1)
			xt := d.QSample(x, BroadcastToDims(Const(g, tt), n), noise)
			m := ReduceAllMean(xt)
			return []*Node{m, ReduceAllMean(Square(Sub(xt, m)))}
		})
		ab := d.Schedule.AlphasCumprod[tt]
		wantMean, wantVar := math.Sqrt(ab)*x0, 1-ab
		if tolM := 5 * math.Sqrt(wantVar/n); math.Abs(got[0][0]-wantMean) > tolM {
			t.Errorf("t=%d: mean %g, want %g ± %g", tt, got[0][0], wantMean, tolM)
		}
		if tolV := 5 * wantVar * math.Sqrt(2.0/n); math.Abs(got[1][0]-wantVar) > tolV {
			t.Errorf("t=%d: variance %g, want %g ± %g", tt, got[1][0], wantVar, tolV)
		}
	}
}

// TestPriorBPD: KL(N(sqrt(abar) x, 1 - abar) || N(0, 1)) per dimension,
// averaged and converted to bits, for the paper's schedule.
func TestPriorBPD(t *testing.T) {
	d := newTestDiffusion(t, Linear, 1000, Epsilon, FixedSmall, Simple)
	xs := []float64{-1, 0.5, 1, 0}
	got := run(t, func(x *Node) *Node { return d.PriorBPD(x) }, tensors.FromFlatDataAndDimensions(xs, 1, 4))[0][0]
	ab := d.Schedule.AlphasCumprod[999]
	want := 0.0
	for _, x := range xs {
		m, v := math.Sqrt(ab)*x, 1-ab
		want += 0.5 * (-1 - math.Log(v) + v + m*m) / math.Ln2
	}
	want /= float64(len(xs))
	if !near(got, want, 1e-9) {
		t.Errorf("prior bpd %g, want %g", got, want)
	}
	if got > 1e-4 {
		t.Errorf("prior bpd %g: the paper's schedule leaves almost no signal at T", got)
	}
}

func TestGraphShapeErrors(t *testing.T) {
	d := newTestDiffusion(t, Linear, 100, Epsilon, FixedSmall, Simple)
	b := testBackend(t)
	for _, tc := range []struct {
		name    string
		fn      func(g *Graph) *Node
		mention string
	}{
		{"t not a vector", func(g *Graph) *Node {
			return d.QSample(Zeros(g, shapes.Make(dtypes.Float32, 2, 3)), Const(g, int32(1)), Zeros(g, shapes.Make(dtypes.Float32, 2, 3)))
		}, "t must be an integer vector shaped [B]=[2]"},
		{"noise shape", func(g *Graph) *Node {
			return d.QSample(Zeros(g, shapes.Make(dtypes.Float32, 2, 3)), Const(g, []int32{1, 2}), Zeros(g, shapes.Make(dtypes.Float32, 2, 4)))
		}, "must have the same shape"},
		{"float t", func(g *Graph) *Node {
			return d.QSample(Zeros(g, shapes.Make(dtypes.Float32, 2, 3)), Const(g, []float32{1, 2}), Zeros(g, shapes.Make(dtypes.Float32, 2, 3)))
		}, "integer vector"},
		{"model output channels", func(g *Graph) *Node {
			dl := *d
			dl.Variance, dl.Loss = LearnedRange, Hybrid
			xt := Zeros(g, shapes.Make(dtypes.Float32, 2, 4, 4, 3))
			return dl.PMeanVariance(xt, xt, Const(g, []int32{1, 2}), false).Mean
		}, "twice the channels"},
	} {
		_, err := ExecOnce(b, tc.fn)
		if err == nil {
			t.Errorf("%s: no error", tc.name)
		} else if !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: error %q does not mention %q", tc.name, err, tc.mention)
		}
	}
}

func TestMain(m *testing.M) {
	b, err := backend.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println("ddpm tests:", backend.Describe(b))
	os.Exit(m.Run())
}

// TestQStepChainMatchesClosedForm: noising one step at a time reaches the
// law of q(x_t | x_0) = N(sqrt(abar_t) x_0, 1 - abar_t); n = 100000 draws,
// 5 standard errors.
func TestQStepChainMatchesClosedForm(t *testing.T) {
	d := newTestDiffusion(t, Linear, 1000, Epsilon, FixedSmall, Simple)
	const n = 100000
	x0 := make([]float32, n)
	for i := range x0 {
		x0[i] = 0.8
	}
	for _, tt := range []int{0, 99, 499} {
		xs, err := QStepChain(testBackend(t), d, x0, []int{n}, tt, 3)
		if err != nil {
			t.Fatal(err)
		}
		m, v := 0.0, 0.0
		for _, x := range xs {
			m += float64(x) / n
		}
		for _, x := range xs {
			v += (float64(x) - m) * (float64(x) - m) / n
		}
		ab := d.Schedule.AlphasCumprod[tt]
		wantM, wantV := math.Sqrt(ab)*0.8, 1-ab
		if tol := 5 * math.Sqrt(wantV/n); math.Abs(m-wantM) > tol {
			t.Errorf("t=%d: chain mean %g, closed form %g ± %g", tt, m, wantM, tol)
		}
		if tol := 5 * wantV * math.Sqrt(2.0/n); math.Abs(v-wantV) > tol {
			t.Errorf("t=%d: chain variance %g, closed form %g ± %g", tt, v, wantV, tol)
		}
	}
	if _, err := QStepChain(testBackend(t), d, x0, []int{n}, 1000, 1); err == nil {
		t.Error("t=1000 of T=1000: no error")
	}
}
