package toy

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/backend"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:revive // GoMLX's graph DSL is written unqualified.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func testBackend(t testing.TB) backends.Backend {
	t.Helper()
	b, err := backend.New()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testMixture: six modes on the unit circle with unequal weights.
func testMixture(t testing.TB) Mixture {
	t.Helper()
	m, err := Ring(6, 1, 0.1, []float64{6, 1, 4, 2, 5, 2})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func testDiffusion(t testing.TB) *ddpm.Diffusion {
	t.Helper()
	s, err := ddpm.NewSchedule(ddpm.Linear, 1000)
	if err != nil {
		t.Fatal(err)
	}
	d, err := ddpm.NewDiffusion(s, ddpm.Epsilon, ddpm.FixedSmall, ddpm.Simple)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestScoreIsGradient: Score is the gradient of LogDensity (central
// differences), for the data and for noised marginals.
func TestScoreIsGradient(t *testing.T) {
	m := testMixture(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, abar := range []float64{1, 0.9, 0.3, 0.01} {
		q := m.Noised(abar)
		for range 20 {
			x := [2]float64{2 * rng.NormFloat64() * q.Std, 1.2 * rng.NormFloat64()}
			s := q.Score(x)
			const h = 1e-5
			for i := range 2 {
				xp, xm := x, x
				xp[i] += h
				xm[i] -= h
				fd := (q.LogDensity(xp) - q.LogDensity(xm)) / (2 * h)
				if math.Abs(fd-s[i]) > 1e-4*(1+math.Abs(fd)) {
					t.Fatalf("abar %g, x %v, axis %d: score %g, finite difference %g", abar, x, i, s[i], fd)
				}
			}
		}
	}
	if got := m.Noised(1).Std; math.Abs(got-0.1) > 1e-12 {
		t.Errorf("Noised(1) changed the std to %g", got)
	}
	if got := m.Noised(0); got.Std != 1 || got.Means[2] != [2]float64{0, 0} {
		t.Errorf("Noised(0) is not the standard normal: %+v", got)
	}
}

// TestDenoiserIsTweedie: the graph denoiser equals -sqrt(1 - abar) times
// the host score of q_t, and it is E[eps | x_t]: its residual eps - eps*(x_t)
// has mean zero and is uncorrelated with x_t (Monte Carlo, 5 standard errors).
func TestDenoiserIsTweedie(t *testing.T) {
	m, d := testMixture(t), testDiffusion(t)
	b := testBackend(t)
	den := m.Denoiser(d.Schedule)
	const n = 20000
	rng := rand.New(rand.NewPCG(3, 4))
	for _, ti := range []int{0, 60, 300, 999} {
		x0 := m.Sample(rng, n)
		noise := make([]float32, 2*n)
		for i := range noise {
			noise[i] = float32(rng.NormFloat64())
		}
		ab := d.Schedule.AlphasCumprod[ti]
		xt := make([]float32, 2*n)
		for i := range xt {
			xt[i] = float32(math.Sqrt(ab)*float64(x0[i]) + math.Sqrt(1-ab)*float64(noise[i]))
		}
		out, err := MustNewExec(b, func(x *Node) *Node {
			return den(nil, x, AddScalar(Const(x.Graph(), make([]int32, n)), float64(ti)))
		}).Exec(tensors.FromFlatDataAndDimensions(xt, n, 2))
		if err != nil {
			t.Fatal(err)
		}
		eps := tensors.MustCopyFlatData[float32](out[0])
		q := m.Noised(ab)
		for i := range 50 {
			s := q.Score([2]float64{float64(xt[2*i]), float64(xt[2*i+1])})
			for j := range 2 {
				want := -math.Sqrt(1-ab) * s[j]
				if math.Abs(float64(eps[2*i+j])-want) > 1e-4*(1+math.Abs(want)) {
					t.Fatalf("t %d point %d: eps* %g, -sqrt(1-abar) score %g", ti, i, eps[2*i+j], want)
				}
			}
		}
		// Orthogonality of the residual to 1 and to x_t.
		for j := range 2 {
			var m1, m2, v1, v2 float64
			for i := range n {
				r := float64(noise[2*i+j] - eps[2*i+j])
				m1 += r
				m2 += r * float64(xt[2*i+j])
				v1 += r * r
				v2 += r * r * float64(xt[2*i+j]*xt[2*i+j])
			}
			m1, m2 = m1/n, m2/n
			se1, se2 := math.Sqrt(v1/n/n), math.Sqrt(v2/n/n)
			if math.Abs(m1) > 5*se1+1e-6 || math.Abs(m2) > 5*se2+1e-6 {
				t.Errorf("t %d axis %d: E[residual] = %.4g (se %.2g), E[residual x_t] = %.4g (se %.2g), want 0", ti, j, m1, se1, m2, se2)
			}
		}
	}
}

// TestSamplersRecoverMixture: with the exact denoiser, the paper's ancestral
// sampler, DDIM and annealed Langevin all put every mode at its weight.
func TestSamplersRecoverMixture(t *testing.T) {
	m, d := testMixture(t), testDiffusion(t)
	b := testBackend(t)
	const n = 4000
	s := ddpm.NewSampler(b, nil, d, m.Denoiser(d.Schedule))
	for _, tc := range []struct {
		name string
		opts ddpm.SampleOptions
	}{
		{"ancestral 1000", ddpm.SampleOptions{Seed: 1}},
		{"ddim 50", ddpm.SampleOptions{Method: ddpm.DDIM, Steps: "ddim50", Seed: 2}},
		{"dpm-solver++ 20", ddpm.SampleOptions{Method: ddpm.DPMSolver, Steps: "20", Seed: 3}},
	} {
		if testing.Short() && tc.opts.Steps == "" {
			continue
		}
		res, err := s.Sample([]int{n, 2}, tc.opts)
		if err != nil {
			t.Fatal(err)
		}
		if tv, frac, stray := m.ModeError(tensors.MustCopyFlatData[float32](res.Images)); tv > 0.04 {
			t.Errorf("%s: total variation %.3f from the weights %.3f (got %.3f, %.3f stray)", tc.name, tv, m.Weights, frac, stray)
		}
	}
	levels := make([]int, 0, 100)
	for i := 99; i >= 0; i-- {
		levels = append(levels, i*10)
	}
	x, err := Langevin(b, nil, d, m.Denoiser(d.Schedule), n, LangevinConfig{Timesteps: levels, Steps: 20, StepSize: 0.5, Seed: 4})
	if err != nil {
		t.Fatal(err)
	}
	if tv, frac, stray := m.ModeError(tensors.MustCopyFlatData[float32](x)); tv > 0.04 {
		t.Errorf("annealed Langevin: total variation %.3f from the weights %.3f (got %.3f, %.3f stray)", tv, m.Weights, frac, stray)
	}
}

// TestFitApproachesBayesFloor: the MLP trained with L_simple for a few
// thousand steps comes within 5% of the exact denoiser's loss (the lowest
// any eps predictor can reach) on the same held-out batch.
func TestFitApproachesBayesFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("trains for a few seconds; skipped in -short mode")
	}
	m, d := testMixture(t), testDiffusion(t)
	b := testBackend(t)
	ctx := context.New()
	mlp := MLP(DefaultMLP)
	losses, err := Fit(b, ctx, m, d.Schedule.T, SimpleLoss(d, mlp), FitConfig{Steps: 3000, Batch: 256, LearningRate: 3e-3, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	if len(losses) != 3000 || !(losses[len(losses)-1] < losses[0]) {
		t.Fatalf("%d losses, first %.4f last %.4f", len(losses), losses[0], losses[len(losses)-1])
	}
	learned, err := Evaluate(b, ctx, m, d.Schedule.T, SimpleLoss(d, mlp), 20000, 6)
	if err != nil {
		t.Fatal(err)
	}
	floor, err := Evaluate(b, nil, m, d.Schedule.T, SimpleLoss(d, m.Denoiser(d.Schedule)), 20000, 6)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("held-out L_simple: MLP %.5f, exact denoiser %.5f (ratio %.4f)", learned, floor, learned/floor)
	if floor >= learned*1.001 {
		t.Errorf("the exact denoiser's loss %.5f is above the trained MLP's %.5f: it is not the minimiser", floor, learned)
	}
	if learned > 1.05*floor {
		t.Errorf("the trained MLP's loss %.5f is more than 5%% above the floor %.5f", learned, floor)
	}
}

func TestModeErrorByHand(t *testing.T) {
	m := Mixture{Weights: []float64{0.75, 0.25}, Means: [][2]float64{{-1, 0}, {1, 0}}, Std: 0.1}
	// Three points at mode 0, one at mode 1: exact. Then one stray in five.
	if tv, _, _ := m.ModeError([]float32{-1, 0, -1.1, 0, -0.9, 0.1, 1, 0}); tv != 0 {
		t.Errorf("points at the weights: tv %g, want 0", tv)
	}
	tv, frac, stray := m.ModeError([]float32{-1, 0, -1, 0, -1, 0, 1, 0, 0, 0})
	// frac = (.6, .2), stray .2: tv = (.15 + .05 + .2) / 2 = .2.
	if math.Abs(tv-0.2) > 1e-12 || math.Abs(frac[0]-0.6) > 1e-12 || math.Abs(stray-0.2) > 1e-12 {
		t.Errorf("one stray in five: tv %g frac %v stray %g, want 0.2 [0.6 0.2] 0.2", tv, frac, stray)
	}
}

func TestBadInput(t *testing.T) {
	d := testDiffusion(t)
	b := testBackend(t)
	m := testMixture(t)
	for _, tc := range []struct {
		name, want string
		err        error
	}{
		{"ring without components", "need k >= 1", func() error { _, err := Ring(0, 1, 0.1, nil); return err }()},
		{"ring with zero std", "need k >= 1", func() error { _, err := Ring(3, 1, 0, nil); return err }()},
		{"ring weights mismatch", "2 weights for 3 means", func() error { _, err := Ring(3, 1, 0.1, []float64{1, 2}); return err }()},
		{"negative weight", "must be finite and not negative", func() error { _, err := Ring(2, 1, 0.1, []float64{1, -1}); return err }()},
		{"fit without steps", "need steps", func() error {
			_, err := Fit(b, context.New(), m, 1000, SimpleLoss(d, MLP(DefaultMLP)), FitConfig{Batch: 8, LearningRate: 1e-3})
			return err
		}()},
		{"fit that diverges", "the loss is", func() error {
			mlp := MLP(DefaultMLP)
			_, err := Fit(b, context.New(), m, 1000, func(ctx *context.Context, x0, t, _ *Node) *Node {
				return MulScalar(ReduceAllMean(Square(mlp(ctx, x0, t))), math.Inf(1))
			}, FitConfig{Steps: 2, Batch: 8, LearningRate: 1e-3})
			return err
		}()},
		{"langevin timestep", "timestep 1000 outside [0, 1000)", func() error {
			_, err := Langevin(b, nil, d, m.Denoiser(d.Schedule), 4, LangevinConfig{Timesteps: []int{1000}, Steps: 1, StepSize: 1})
			return err
		}()},
		{"scores of a bad t", "t = -1 outside", func() error {
			_, err := Scores(b, nil, d, m.Denoiser(d.Schedule), -1, []float32{0, 0})
			return err
		}()},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, tc.err, tc.want)
		}
	}
}
