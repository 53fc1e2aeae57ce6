package ddpm

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func near(a, b, tol float64) bool {
	return math.Abs(a-b) <= tol*math.Max(1, math.Max(math.Abs(a), math.Abs(b)))
}

func mustSchedule(t *testing.T, kind BetaSchedule, T int) *Schedule {
	t.Helper()
	s, err := NewSchedule(kind, T)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestScheduleEndpoints(t *testing.T) {
	for _, tc := range []struct {
		kind        BetaSchedule
		T           int
		first, last float64
		source      string
	}{
		{Linear, 1000, 1e-4, 0.02, "paper, Sec. 4: linear from 1e-4 to 0.02"},
		{Linear, 100, 1e-3, 0.2, "improved-diffusion: both ends scaled by 1000/T"},
		{Linear, 4000, 2.5e-5, 0.005, "improved-diffusion: both ends scaled by 1000/T"},
		{Quadratic, 1000, 1e-4, 0.02, "official code: linspace(sqrt(1e-4), sqrt(0.02))^2"},
		{Quadratic, 10, 1e-4, 0.02, "quadratic is not scaled with T"},
	} {
		s := mustSchedule(t, tc.kind, tc.T)
		if got := s.Betas[0]; !near(got, tc.first, 1e-12) {
			t.Errorf("%v T=%d: beta[0]=%g, want %g (%s)", tc.kind, tc.T, got, tc.first, tc.source)
		}
		if got := s.Betas[tc.T-1]; !near(got, tc.last, 1e-12) {
			t.Errorf("%v T=%d: beta[T-1]=%g, want %g (%s)", tc.kind, tc.T, got, tc.last, tc.source)
		}
	}
	// Quadratic midpoint: ((sqrt(1e-4)+sqrt(0.02))/2)^2 for odd T.
	s := mustSchedule(t, Quadratic, 101)
	want := math.Pow((math.Sqrt(1e-4)+math.Sqrt(0.02))/2, 2)
	if !near(s.Betas[50], want, 1e-12) {
		t.Errorf("quadratic midpoint %g, want %g", s.Betas[50], want)
	}
}

func TestCosineSchedule(t *testing.T) {
	const T = 1000
	s := mustSchedule(t, Cosine, T)
	f := func(u float64) float64 { c := math.Cos((u + 0.008) / 1.008 * math.Pi / 2); return c * c }
	// Where no beta is clipped, abar_t telescopes to f((t+1)/T) / f(0).
	for _, tt := range []int{0, 1, 10, 500, 900, 990} {
		if got, want := s.AlphasCumprod[tt], f(float64(tt+1)/T)/f(0); !near(got, want, 1e-9) {
			t.Errorf("cosine abar[%d]=%.12g, want f((t+1)/T)/f(0)=%.12g", tt, got, want)
		}
	}
	// f(1) = cos^2(pi/2) = 0, so the last beta would be 1: it is clipped to 0.999.
	if got := s.Betas[T-1]; got != 0.999 {
		t.Errorf("cosine beta[T-1]=%g, want the clip value 0.999", got)
	}
	for tt, b := range s.Betas {
		if b <= 0 || b > 0.999 {
			t.Fatalf("cosine beta[%d]=%g outside (0, 0.999]", tt, b)
		}
	}
}

// TestScheduleIdentities checks every table against the identities that
// define it, for each named schedule.
func TestScheduleIdentities(t *testing.T) {
	for _, kind := range []BetaSchedule{Linear, Cosine, Quadratic} {
		s := mustSchedule(t, kind, 1000)
		prod := 1.0
		for tt := range s.T {
			prev := prod
			prod *= 1 - s.Betas[tt]
			checks := []struct {
				name      string
				got, want float64
			}{
				{"Alphas", s.Alphas[tt], 1 - s.Betas[tt]},
				{"AlphasCumprod = prod alphas", s.AlphasCumprod[tt], prod},
				{"AlphasCumprodPrev", s.AlphasCumprodPrev[tt], prev},
				{"sqrt(abar)^2 + sqrt(1-abar)^2 = 1", s.SqrtAlphasCumprod[tt]*s.SqrtAlphasCumprod[tt] + s.SqrtOneMinusAlphasCumprod[tt]*s.SqrtOneMinusAlphasCumprod[tt], 1},
				{"exp(LogOneMinusAlphasCumprod) = 1 - abar", math.Exp(s.LogOneMinusAlphasCumprod[tt]), 1 - prod},
				{"SqrtRecipAlphasCumprod * SqrtAlphasCumprod = 1", s.SqrtRecipAlphasCumprod[tt] * s.SqrtAlphasCumprod[tt], 1},
				{"SqrtRecipm1^2 = 1/abar - 1", s.SqrtRecipm1AlphasCumprod[tt] * s.SqrtRecipm1AlphasCumprod[tt], 1/prod - 1},
				// E[x_{t-1} | x_0] = sqrt(abar_{t-1}) x_0 = coef1 x_0 + coef2 E[x_t | x_0].
				{"coef1 + coef2 sqrt(abar_t) = sqrt(abar_{t-1})", s.PosteriorMeanCoef1[tt] + s.PosteriorMeanCoef2[tt]*math.Sqrt(prod), math.Sqrt(prev)},
				// Var[x_{t-1} | x_0] = 1 - abar_{t-1} = coef2^2 Var[x_t | x_0] + betatilde_t (total variance).
				{"coef2^2 (1 - abar_t) + betatilde_t = 1 - abar_{t-1}", s.PosteriorMeanCoef2[tt]*s.PosteriorMeanCoef2[tt]*(1-prod) + s.PosteriorVariance[tt], 1 - prev},
			}
			for _, c := range checks {
				if !near(c.got, c.want, 1e-9) {
					t.Fatalf("%v t=%d: %s: got %.15g, want %.15g", kind, tt, c.name, c.got, c.want)
				}
			}
			if tt > 0 && !near(s.PosteriorLogVarianceClipped[tt], math.Log(s.PosteriorVariance[tt]), 1e-12) {
				t.Fatalf("%v t=%d: clipped log-variance %g != log(posterior variance)", kind, tt, s.PosteriorLogVarianceClipped[tt])
			}
		}
		if s.PosteriorVariance[0] != 0 {
			t.Errorf("%v: posterior variance at t=0 is %g, want 0 (abar_{-1} = 1)", kind, s.PosteriorVariance[0])
		}
		if s.PosteriorLogVarianceClipped[0] != s.PosteriorLogVarianceClipped[1] {
			t.Errorf("%v: clipped log-variance at t=0 must repeat t=1", kind)
		}
		large := s.FixedLargeLogVariance()
		if large[0] != math.Log(s.PosteriorVariance[1]) || large[5] != math.Log(s.Betas[5]) {
			t.Errorf("%v: fixed-large log-variance must be log(append(betatilde_1, betas[1:]))", kind)
		}
	}
}

func TestRespaceKeepingEveryStepIsIdentity(t *testing.T) {
	s := mustSchedule(t, Linear, 1000)
	all := make([]int, s.T)
	for i := range all {
		all[i] = i
	}
	r, err := s.Respace(all)
	if err != nil {
		t.Fatal(err)
	}
	tables := func(x *Schedule) [][]float64 {
		return [][]float64{x.Betas, x.Alphas, x.AlphasCumprod, x.AlphasCumprodPrev, x.SqrtAlphasCumprod,
			x.SqrtOneMinusAlphasCumprod, x.LogOneMinusAlphasCumprod, x.SqrtRecipAlphasCumprod, x.SqrtRecipm1AlphasCumprod,
			x.PosteriorVariance, x.PosteriorLogVarianceClipped, x.PosteriorMeanCoef1, x.PosteriorMeanCoef2}
	}
	for k, tab := range tables(r) {
		for i := range tab {
			if !near(tab[i], tables(s)[k][i], 1e-9) {
				t.Fatalf("table %d index %d: respaced %g, original %g", k, i, tab[i], tables(s)[k][i])
			}
		}
	}
	if !slices.Equal(r.Timesteps, all) {
		t.Errorf("respaced timesteps %v, want identity", r.Timesteps[:5])
	}
}

func TestRespaceSubset(t *testing.T) {
	s := mustSchedule(t, Cosine, 1000)
	use, err := SpacedTimesteps(1000, "ddim50")
	if err != nil {
		t.Fatal(err)
	}
	r, err := s.Respace(use)
	if err != nil {
		t.Fatal(err)
	}
	if r.T != 50 {
		t.Fatalf("respaced T=%d, want 50", r.T)
	}
	// The respaced chain must visit exactly the original marginals q(x_t | x_0).
	for i, orig := range use {
		if !near(r.AlphasCumprod[i], s.AlphasCumprod[orig], 1e-12) {
			t.Errorf("respaced abar[%d]=%g, original abar[%d]=%g", i, r.AlphasCumprod[i], orig, s.AlphasCumprod[orig])
		}
		if r.Timesteps[i] != orig {
			t.Errorf("respaced Timesteps[%d]=%d, want %d", i, r.Timesteps[i], orig)
		}
	}
	// Respacing a respaced schedule maps back to the first original.
	rr, err := r.Respace([]int{0, 49})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rr.Timesteps, []int{0, 980}) {
		t.Errorf("twice respaced timesteps %v, want [0 980]", rr.Timesteps)
	}
}

func TestSpacedTimesteps(t *testing.T) {
	for _, tc := range []struct {
		T    int
		spec string
		want []int
	}{
		// improved-diffusion space_timesteps(1000, "ddim10") = range(0, 1000, 100).
		{1000, "ddim10", []int{0, 100, 200, 300, 400, 500, 600, 700, 800, 900}},
		// One section of 1000 keeping 10: stride 999/9 = 111.
		{1000, "10", []int{0, 111, 222, 333, 444, 555, 666, 777, 888, 999}},
		// Two sections of 5, keeping 2 and 3: {0, 4} and 5 + {0, 2, 4}.
		{10, "2,3", []int{0, 4, 5, 7, 9}},
		// 3 from a section of 6: stride 2.5 rounds half to even as Python does: 0, 2 (2.5), 5.
		{6, "3", []int{0, 2, 5}},
		{7, "7", []int{0, 1, 2, 3, 4, 5, 6}},
	} {
		got, err := SpacedTimesteps(tc.T, tc.spec)
		if err != nil {
			t.Errorf("SpacedTimesteps(%d, %q): %v", tc.T, tc.spec, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("SpacedTimesteps(%d, %q) = %v, want %v", tc.T, tc.spec, got, tc.want)
		}
	}
}

func TestScheduleBadInput(t *testing.T) {
	for _, tc := range []struct {
		name    string
		err     error
		mention string
	}{
		{"T=0", func() error { _, err := NewSchedule(Linear, 0); return err }(), "must lie in [1, 1048576]"},
		{"T huge", func() error { _, err := NewSchedule(Cosine, 1<<40); return err }(), "T=1099511627776"},
		{"unknown kind", func() error { _, err := NewSchedule(BetaSchedule(7), 10); return err }(), "linear, cosine, quadratic"},
		{"no betas", func() error { _, err := NewScheduleFromBetas(nil); return err }(), "at least one"},
		{"beta 0", func() error { _, err := NewScheduleFromBetas([]float64{0.1, 0}); return err }(), "beta[1]=0"},
		{"beta 1", func() error { _, err := NewScheduleFromBetas([]float64{1}); return err }(), "(0, 1)"},
		{"beta NaN", func() error { _, err := NewScheduleFromBetas([]float64{math.NaN()}); return err }(), "NaN"},
		{"respace out of range", func() error {
			_, err := mustSchedule(t, Quadratic, 10).Respace([]int{0, 10})
			return err
		}(), "[0, 10)"},
		{"respace duplicate", func() error { _, err := mustSchedule(t, Quadratic, 10).Respace([]int{3, 3}); return err }(), "duplicates"},
		{"spacing too many", func() error { _, err := SpacedTimesteps(10, "11"); return err }(), "cannot take 11"},
		{"spacing garbage", func() error { _, err := SpacedTimesteps(10, "fast"); return err }(), "ddimN"},
		{"ddim stride", func() error { _, err := SpacedTimesteps(10, "ddim6"); return err }(), "no integer stride"},
	} {
		if tc.err == nil {
			t.Errorf("%s: no error", tc.name)
		} else if !strings.Contains(tc.err.Error(), tc.mention) {
			t.Errorf("%s: error %q does not mention %q", tc.name, tc.err, tc.mention)
		}
	}
}

func TestParsers(t *testing.T) {
	if k, err := ParseBetaSchedule(" Cosine "); err != nil || k != Cosine {
		t.Errorf("ParseBetaSchedule(Cosine) = %v, %v", k, err)
	}
	for _, tc := range []struct {
		err  error
		list string
	}{
		{func() error { _, err := ParseBetaSchedule("sigmoid"); return err }(), "linear, cosine, quadratic"},
		{func() error { _, err := ParsePrediction("noise"); return err }(), "eps, x0, v, mean"},
		{func() error { _, err := ParseVarianceType("learned"); return err }(), "fixed-small, fixed-large, learned-range"},
		{func() error { _, err := ParseLossType("kl"); return err }(), "simple, vlb, hybrid"},
		{func() error { _, err := ParseMethod("euler"); return err }(), "ddpm, ddim"},
	} {
		if tc.err == nil || !strings.Contains(tc.err.Error(), tc.list) {
			t.Errorf("error %v does not list %q", tc.err, tc.list)
		}
	}
	for _, name := range predictionNames {
		p, err := ParsePrediction(name)
		if err != nil || p.String() != name {
			t.Errorf("round trip of %q: %v %v", name, p, err)
		}
	}
}

func TestNewDiffusionRejectsIncoherentChoices(t *testing.T) {
	s := mustSchedule(t, Quadratic, 10)
	if _, err := NewDiffusion(s, Epsilon, LearnedRange, Simple); err == nil || !strings.Contains(err.Error(), "vlb or hybrid") {
		t.Errorf("learned variance with L_simple: err=%v", err)
	}
	if _, err := NewDiffusion(s, Epsilon, FixedLarge, Hybrid); err == nil || !strings.Contains(err.Error(), "learned-range") {
		t.Errorf("hybrid with fixed variance: err=%v", err)
	}
	if _, err := NewDiffusion(s, Epsilon, FixedLarge, VLB); err != nil {
		t.Errorf("vlb with fixed variance is the paper's Table 2 setting: %v", err)
	}
}

func TestLinearNeedsMoreThan20Steps(t *testing.T) {
	// beta[T-1] = 0.02 * 1000 / T, which reaches 1 at T = 20.
	if _, err := NewSchedule(Linear, 20); err == nil || !strings.Contains(err.Error(), "beta[19]=1") {
		t.Errorf("linear T=20: err=%v, want beta[19]=1 rejected", err)
	}
	if _, err := NewSchedule(Linear, 21); err != nil {
		t.Errorf("linear T=21: %v", err)
	}
}
