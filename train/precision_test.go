package train

import (
	gocontext "context"
	"math"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
)

// TestMixedPrecisionTraining: the tiny preset trained 6 steps with bfloat16
// products and activations from the same initial weights, batches and noise
// as in float32. (Products alone are checked on the network's output by
// unet's TestMixedPrecision and on the compiled training step by the
// command's TestBFloat16TrainingConvolutions; this test trains the setting
// whose gradients also flow in bfloat16.)
// The network's output convolution starts at zero, so the first loss is the
// same in both; the first gradient norm differs only by the rounding of the
// products' operands (8 bits of mantissa: about 0.4% each) and must agree
// within 1%; later losses stay within 10%; the weights stay float32 and
// finite, and differ from the float32 run's (the setting took effect).
func TestMixedPrecisionTraining(t *testing.T) {
	b := backend.MustNew()
	ds := synthetic(20)
	run := func(precision string) ([]StepStats, map[string][]float32) {
		cfg := tinyConfig(t)
		cfg.Steps, cfg.Precision = 6, precision
		tr, err := New(b, cfg, t.TempDir(), ds)
		if err != nil {
			t.Fatal(err)
		}
		defer tr.Close()
		var stats []StepStats
		if err := tr.Run(gocontext.Background(), 1, func(s StepStats) { stats = append(stats, s) }); err != nil {
			t.Fatal(err)
		}
		return stats, weights(t, tr)
	}
	f32, w32 := run("")
	for _, precision := range []string{"bfloat16-activations"} {
		t.Run(precision, func(t *testing.T) {
			bf16, w16 := run(precision)
			if len(f32) != 6 || len(bf16) != 6 {
				t.Fatalf("%d and %d steps logged, want 6", len(f32), len(bf16))
			}
			rel := func(a, b float64) float64 { return math.Abs(a-b) / math.Abs(b) }
			for i := range f32 {
				t.Logf("step %d: loss %.5f (float32) %.5f (%s), |g| %.4f %.4f", i+1, f32[i].Loss, bf16[i].Loss, precision, f32[i].GradNorm, bf16[i].GradNorm)
			}
			if d := rel(bf16[0].Loss, f32[0].Loss); d > 1e-6 {
				t.Errorf("first step's loss differs by %.3g (relative) between %s and float32, with the output at zero", d, precision)
			}
			if d := rel(bf16[0].GradNorm, f32[0].GradNorm); d > 0.01 || d == 0 {
				t.Errorf("first step's gradient norm differs by %.3g (relative); want a rounding difference, above 0 and below 1%%", d)
			}
			for i := range bf16 {
				if d := rel(bf16[i].Loss, f32[i].Loss); d > 0.1 || math.IsNaN(bf16[i].Loss) {
					t.Errorf("step %d: %s loss %g against %g in float32", i+1, precision, bf16[i].Loss, f32[i].Loss)
				}
			}
			same := true
			for name, w := range w32 {
				v, ok := w16[name]
				if !ok || len(v) != len(w) {
					t.Fatalf("%s: not a float32 variable of the same size in the %s run", name, precision)
				}
				for i := range w {
					if math.IsNaN(float64(v[i])) || math.IsInf(float64(v[i]), 0) {
						t.Fatalf("%s: non-finite weight %g", name, v[i])
					}
					same = same && v[i] == w[i]
				}
			}
			if same {
				t.Errorf("the %s run ended with the float32 run's weights: the precision was not applied", precision)
			}
		})
	}

	cfg := tinyConfig(t)
	cfg.Precision = "float16"
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "valid values are float32, bfloat16, bfloat16-activations") {
		t.Errorf("Validate with precision float16: %v", err)
	}
}
