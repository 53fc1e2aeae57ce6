package ddpm

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// For data x_0 ~ N(mu, s^2), independently per dimension, the optimal noise
// predictor is known in closed form. x_t = sqrt(abar) x_0 + sqrt(1-abar) eps
// is Gaussian, and E[eps | x_t] = Cov(eps, x_t) / Var(x_t) (x_t - E[x_t]):
//
//	E[eps | x_t] = sqrt(1-abar) (x_t - sqrt(abar) mu) / (abar s^2 + 1 - abar)
//
// Its mean squared error is Var(eps | x_t) = abar s^2 / (abar s^2 + 1 - abar).

// Per-dimension data parameters of the oracle tests: images of 1x2x1.
var oracleMu, oracleStd = []float64{0.3, -0.2}, []float64{0.5, 0.2}

// oracleDenoiser returns the optimal eps predictor for the schedule s, whose
// timesteps are those the network sees (the original schedule's).
func oracleDenoiser(s *Schedule) Denoiser {
	return func(_ *context.Context, xt, t *Node) *Node {
		shape := []int{1, 1, 2, 1}
		mu := Reshape(ConstAs(xt, oracleMu), shape...)
		s2 := Reshape(Square(ConstAs(xt, oracleStd)), shape...)
		ab := Coef(s.AlphasCumprod, t, xt)
		num := Mul(Sqrt(OneMinus(ab)), Sub(xt, Mul(Sqrt(ab), mu)))
		return Div(num, Add(Mul(ab, s2), OneMinus(ab)))
	}
}

// sampleStats returns the per-dimension mean and variance of images [N,1,2,1].
func sampleStats(x []float64) (mean, variance [2]float64) {
	n := float64(len(x) / 2)
	for i, v := range x {
		mean[i%2] += v / n
	}
	for i, v := range x {
		variance[i%2] += (v - mean[i%2]) * (v - mean[i%2]) / n
	}
	return
}

// oracleMoments propagates the exact mean and variance of one dimension
// through the sampler. With the oracle every step is linear in x_t plus
// independent Gaussian noise, x' = a x + b + sigma z, so m' = a m + b and
// v' = a^2 v + sigma^2, starting from x_T ~ N(0, 1). This is the law of the
// samples including the bias of a finite number of steps.
func oracleMoments(d *Diffusion, opts SampleOptions, mu, std float64) (mean, variance float64) {
	s := d.Schedule
	m, v := 0.0, 1.0
	for i := s.T - 1; i >= 0; i-- {
		ab, abPrev := s.AlphasCumprod[i], s.AlphasCumprodPrev[i]
		ce := math.Sqrt(1-ab) / (ab*std*std + 1 - ab) // eps_hat = ce (x - sqrt(ab) mu)
		// x0_hat = A x + B
		A := s.SqrtRecipAlphasCumprod[i] - s.SqrtRecipm1AlphasCumprod[i]*ce
		B := s.SqrtRecipm1AlphasCumprod[i] * ce * math.Sqrt(ab) * mu
		var a, b, sigma2 float64
		switch opts.Method {
		case Ancestral:
			a = s.PosteriorMeanCoef1[i]*A + s.PosteriorMeanCoef2[i]
			b = s.PosteriorMeanCoef1[i] * B
			if i > 0 {
				switch d.Variance {
				case FixedSmall:
					sigma2 = math.Exp(s.PosteriorLogVarianceClipped[i])
				case FixedLarge:
					sigma2 = math.Exp(s.FixedLargeLogVariance()[i])
				}
			}
		case DDIM:
			sig2 := opts.Eta * opts.Eta * (1 - abPrev) / (1 - ab) * (1 - ab/abPrev)
			c := math.Sqrt(1 - abPrev - sig2)
			a = math.Sqrt(abPrev)*A + c*ce
			b = math.Sqrt(abPrev)*B - c*ce*math.Sqrt(ab)*mu
			if i > 0 {
				sigma2 = sig2
			}
		}
		m, v = a*m+b, a*a*v+sigma2
	}
	return m, v
}

// TestOracleSampling: sampling with the optimal denoiser draws from the law
// that oracleMoments computes (checked within 5 standard errors: s/sqrt(N)
// for the mean, s^2 sqrt(2/N) for the variance), and for the full 1000-step
// ancestral sampler that law is the data's within 5% of the variance (fixed-small
// variances lose 3.8% of it at s = 0.2: the bias of 1000 discrete steps).
func TestOracleSampling(t *testing.T) {
	const N = 4000
	for _, tc := range []struct {
		name string
		kind BetaSchedule
		vt   VarianceType
		opts SampleOptions
	}{
		{"ancestral fixed-small", Linear, FixedSmall, SampleOptions{Seed: 1}},
		{"ancestral fixed-large", Linear, FixedLarge, SampleOptions{Seed: 2}},
		{"ancestral cosine", Cosine, FixedSmall, SampleOptions{Seed: 3}},
		{"ancestral respaced 100", Linear, FixedSmall, SampleOptions{Seed: 4, Steps: "100"}},
		{"ddim eta=0, 50 steps", Linear, FixedSmall, SampleOptions{Seed: 5, Method: DDIM, Steps: "ddim50"}},
		{"ddim eta=1, 100 steps", Cosine, FixedSmall, SampleOptions{Seed: 6, Method: DDIM, Eta: 1, Steps: "100"}},
		{"ddim eta=0, 1000 steps", Linear, FixedSmall, SampleOptions{Seed: 7, Method: DDIM}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if testing.Short() && tc.opts.Steps == "" {
				t.Skip("1000-step sampling skipped in -short mode")
			}
			d := newTestDiffusion(t, tc.kind, 1000, Epsilon, tc.vt, Simple)
			sampler := NewSampler(testBackend(t), nil, d, oracleDenoiser(d.Schedule))
			res, err := sampler.Sample([]int{N, 1, 2, 1}, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			dd, err := sampler.diffusionFor(tc.opts.Steps)
			if err != nil {
				t.Fatal(err)
			}
			mean, variance := sampleStats(toFloat64(res.Images))
			for k := range 2 {
				wantM, wantV := oracleMoments(dd, tc.opts, oracleMu[k], oracleStd[k])
				if tol := 5 * math.Sqrt(wantV/N); math.Abs(mean[k]-wantM) > tol {
					t.Errorf("dim %d: sample mean %.4f, want %.4f ± %.4f", k, mean[k], wantM, tol)
				}
				if tol := 5 * wantV * math.Sqrt(2.0/N); math.Abs(variance[k]-wantV) > tol {
					t.Errorf("dim %d: sample variance %.4f, want %.4f ± %.4f", k, variance[k], wantV, tol)
				}
				s2 := oracleStd[k] * oracleStd[k]
				if tc.opts.Steps == "" && (math.Abs(wantV-s2) > 0.05*s2 || math.Abs(wantM-oracleMu[k]) > 1e-3) {
					t.Errorf("dim %d: the 1000-step sampler's law N(%.4f, %.4f) is not the data's N(%.4f, %.4f)", k, wantM, wantV, oracleMu[k], s2)
				}
			}
		})
	}
}

// TestDDIMDeterministic: DDIM with eta = 0 is a deterministic map of x_T,
// so two runs from the same x_T with different seeds agree exactly; the same
// seed gives the same images with any sampler.
func TestDDIMDeterministic(t *testing.T) {
	d := newTestDiffusion(t, Linear, 1000, Epsilon, FixedSmall, Simple)
	b := testBackend(t)
	sampler := NewSampler(b, nil, d, oracleDenoiser(d.Schedule))
	rng := rand.New(rand.NewPCG(7, 7))
	noise := make([]float32, 64*2)
	for i := range noise {
		noise[i] = float32(rng.NormFloat64())
	}
	xT := tensors.FromFlatDataAndDimensions(noise, 64, 1, 2, 1)
	run := func(opts SampleOptions) []float64 {
		res, err := sampler.Sample([]int{64, 1, 2, 1}, opts)
		if err != nil {
			t.Fatal(err)
		}
		return toFloat64(res.Images)
	}
	a := run(SampleOptions{Method: DDIM, Steps: "ddim20", Noise: xT, Seed: 1})
	c := run(SampleOptions{Method: DDIM, Steps: "ddim20", Noise: xT, Seed: 2})
	for i := range a {
		if a[i] != c[i] {
			t.Fatalf("DDIM eta=0 from the same x_T differs at %d: %g vs %g", i, a[i], c[i])
		}
	}
	e1 := run(SampleOptions{Steps: "50", Seed: 11})
	e2 := run(SampleOptions{Steps: "50", Seed: 11})
	e3 := run(SampleOptions{Steps: "50", Seed: 12})
	same, differ := true, false
	for i := range e1 {
		same = same && e1[i] == e2[i]
		differ = differ || e1[i] != e3[i]
	}
	if !same {
		t.Error("ancestral sampling with the same seed gave different images")
	}
	if !differ {
		t.Error("ancestral sampling with different seeds gave the same images")
	}
}

// TestProgressiveCapture: snapshots come at the requested timesteps, in
// decreasing order, and the prediction of x_0 sharpens towards the end.
func TestProgressiveCapture(t *testing.T) {
	d := newTestDiffusion(t, Linear, 1000, Epsilon, FixedSmall, Simple)
	sampler := NewSampler(testBackend(t), nil, d, oracleDenoiser(d.Schedule))
	res, err := sampler.Sample([]int{256, 1, 2, 1}, SampleOptions{Seed: 3, Steps: "100", Capture: []int{999, 500, 0}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Snapshots) != 3 {
		t.Fatalf("got %d snapshots, want 3", len(res.Snapshots))
	}
	// Steps "100" visits round(k * 999/99): 999 and 0 exactly, and 494 is the last at or below 500.
	for i, want := range []int{999, 494, 0} {
		if res.Snapshots[i].T != want {
			t.Errorf("snapshot %d at t=%d, want %d", i, res.Snapshots[i].T, want)
		}
	}
	// At t = 999 the optimal x_0 prediction is nearly the data mean (little
	// signal is left); at t = 0 it varies as much as the data.
	_, vFirst := sampleStats(toFloat64(res.Snapshots[0].PredX0))
	_, vLast := sampleStats(toFloat64(res.Snapshots[2].PredX0))
	if !(vFirst[0] < 0.01*vLast[0]) {
		t.Errorf("variance of predicted x_0: %g at t=999, %g at t=0; want coarse-to-fine", vFirst[0], vLast[0])
	}
	if _, err := sampler.Sample([]int{4, 1, 2, 1}, SampleOptions{Capture: []int{1000}}); err == nil {
		t.Error("capture at t=1000 of T=1000: no error")
	}
}

// TestInterpolateEndpoints: decoding from t = 0 removes one step of noise, so
// lambda = 0 and 1 give back (nearly) the two inputs, and lambda = 0.5 lies
// between them.
func TestInterpolateEndpoints(t *testing.T) {
	d := newTestDiffusion(t, Linear, 1000, Epsilon, FixedSmall, Simple)
	sampler := NewSampler(testBackend(t), nil, d, oracleDenoiser(d.Schedule))
	a := tensors.FromFlatDataAndDimensions([]float32{0.8, -0.4}, 1, 1, 2, 1)
	b := tensors.FromFlatDataAndDimensions([]float32{-0.2, 0.4}, 1, 1, 2, 1)
	res, err := sampler.Interpolate(a, b, 0, []float64{0, 0.5, 1}, SampleOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	got := toFloat64(res.Images)
	want := []float64{0.8, -0.4, 0.3, 0, -0.2, 0.4}
	// One step at beta_0 = 1e-4 moves a value by about sqrt(1e-4) = 0.01.
	for i := range want {
		if math.Abs(got[i]-want[i]) > 0.05 {
			t.Errorf("interpolation value %d: %g, want about %g", i, got[i], want[i])
		}
	}
	if _, err := sampler.Interpolate(a, b, 1000, []float64{0.5}, SampleOptions{}); err == nil {
		t.Error("interpolation at t=1000 of T=1000: no error")
	}
}

// TestOracleMSE: L_simple of the optimal predictor equals its closed-form
// error Var(eps | x_t) = abar s^2 / (abar s^2 + 1 - abar), averaged over dimensions.
func TestOracleMSE(t *testing.T) {
	d := newTestDiffusion(t, Linear, 1000, Epsilon, FixedSmall, Simple)
	const N = 20000
	for _, tt := range []int32{0, 300, 999} {
		got := run(t, func(g *Graph) *Node {
			rng := RNGStateFromSeedForGraph(g, int64(tt))
			rng, z := RandomNormal(rng, shapesOf(N, 1, 2, 1))
			_, noise := RandomNormal(rng, shapesOf(N, 1, 2, 1))
			x0 := Add(Mul(z, Reshape(ConstAs(z, oracleStd), 1, 1, 2, 1)), Reshape(ConstAs(z, oracleMu), 1, 1, 2, 1))
			ctx := context.New()
			l := d.TrainingLosses(ctx, oracleDenoiser(d.Schedule), x0, BroadcastToDims(Const(g, tt), N), noise)
			return ReduceAllMean(l.Loss)
		})[0][0]
		ab := d.Schedule.AlphasCumprod[tt]
		want := 0.0
		for _, s := range oracleStd {
			want += ab * s * s / (ab*s*s + 1 - ab) / 2
		}
		// The per-example MSE has a chi-square spread; 5 standard errors of sqrt(2/N) relative.
		if tol := 5 * want * math.Sqrt(2.0/N); math.Abs(got-want) > tol {
			t.Errorf("t=%d: oracle L_simple %g, want %g ± %g", tt, got, want, tol)
		}
	}
}

func shapesOf(dims ...int) shapes.Shape { return shapes.Make(dtypes.Float32, dims...) }
