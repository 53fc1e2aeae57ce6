package train

import (
	gocontext "context"
	"fmt"
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/backend"
	"github.com/diffusion-go/ddpm/checkpoint"
)

// Adam's constants as the trainer sets them (buildExec).
const adamBeta1, adamBeta2, adamEps = 0.9, 0.999, 1e-8

// floatsOf returns a checkpoint's float32 tensors by name, as float64.
func floatsOf(t *testing.T, ck *checkpoint.File) map[string][]float64 {
	out := map[string][]float64{}
	for _, v := range ck.Vars {
		if f, ok := v.Value.Value().([]float32); ok {
			out[v.Name] = toF64(f)
			continue
		}
		var flat []float64
		_ = v.Value.ConstFlatData(func(a any) {
			if f, ok := a.([]float32); ok {
				flat = toF64(f)
			}
		})
		if flat != nil {
			out[v.Name] = flat
		}
	}
	return out
}

func toF64(f []float32) []float64 {
	out := make([]float64, len(f))
	for i, v := range f {
		out[i] = float64(v)
	}
	return out
}

// TestStepMath checks three training steps against the update rules written
// out on the host, from what the checkpoints after each step hold (the
// weights W, Adam's moments m and v, the EMA E) and what each step reports
// (the unclipped gradient norm, the learning rate). The gradient g_k itself
// is recovered from Adam's first moment, g_k = (m_k - b1 m_{k-1}) / (1 - b1),
// and then:
//
//	v_k  = b2 v_{k-1} + (1 - b2) g_k^2                        (Adam's second moment)
//	|g_k| = min(norm_k, clip) (global norm; = norm_k when clip is 0)
//	lr_k = lr min(k / warmup, 1)                              (linear warm-up)
//	W_k  = W_{k-1} - lr_k m̂_k / (sqrt(v̂_k) + eps), m̂_k = m_k / (1 - b1^k), v̂_k = v_k / (1 - b2^k)
//	E_k  = d_k E_{k-1} + (1 - d_k) W_k, d_k = min((k) / (k + 9), decay), E_0 = 0
//
// Step 3 runs in a second trainer resumed from step 2's checkpoint, so the
// checks also cover what resuming restores. Two configurations: L_simple with
// a clip that binds, and the hybrid loss with learned variances, the
// loss-aware timestep sampler and no clipping.
func TestStepMath(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(c *Config)
	}{
		{"simple, clipped", func(c *Config) { c.GradClip = 1e-3 }},
		{"hybrid, learned variance, loss-aware timesteps, no clip", func(c *Config) {
			c.Loss, c.Variance, c.Timesteps, c.GradClip = ddpm.Hybrid, ddpm.LearnedRange, ddpm.LossAwareTimesteps, 0
			c.Model.OutChannels = 2 * c.Model.InChannels
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tinyConfig(t)
			cfg.Steps, cfg.CheckpointEvery, cfg.KeepCheckpoints, cfg.BatchSize = 2, 1, 0, 4
			cfg.Warmup, cfg.EMADecay, cfg.LearningRate = 2, 0.15, 0.01
			tc.set(&cfg)
			dir := t.TempDir()
			var stats []StepStats
			run := func(steps int) {
				cfg.Steps = steps
				tr, err := New(backend.MustNew(), cfg, dir, synthetic(20))
				if err != nil {
					t.Fatal(err)
				}
				defer tr.Close()
				if err := tr.Run(gocontext.Background(), 1, func(st StepStats) { stats = append(stats, st) }); err != nil {
					t.Fatal(err)
				}
			}
			run(2)
			run(3) // Resumed.
			if len(stats) != 3 {
				t.Fatalf("%d steps reported, want 3", len(stats))
			}
			state := make([]map[string][]float64, 4)
			for k := 1; k <= 3; k++ {
				ck, err := checkpoint.Read(filepath.Join(dir, fmt.Sprintf("ckpt-%09d.ddpm", k)))
				if err != nil {
					t.Fatal(err)
				}
				state[k] = floatsOf(t, ck)
			}
			var names []string
			for name := range state[1] {
				if strings.HasPrefix(name, "/model/") {
					names = append(names, name)
				}
			}
			if len(names) < 10 {
				t.Fatalf("only %d model weights found", len(names))
			}
			m := func(k int, name string) []float64 { return state[k]["/AdamOptimizer"+name+"_1st_moment"] }
			v := func(k int, name string) []float64 { return state[k]["/AdamOptimizer"+name+"_2nd_moment"] }
			for k := 1; k <= 3; k++ {
				st := stats[k-1]
				wantLR := cfg.LearningRate * math.Min(float64(k)/float64(cfg.Warmup), 1)
				if math.Abs(st.LearningRate-wantLR) > 1e-6*wantLR {
					t.Errorf("step %d: learning rate %g, want %g", k, st.LearningRate, wantLR)
				}
				sq := 0.0
				worstV, worstW, worstE := 0.0, 0.0, 0.0
				d := math.Min(float64(k)/float64(k+9), cfg.EMADecay)
				for _, name := range names {
					mk, vk := m(k, name), v(k, name)
					if mk == nil || vk == nil {
						t.Fatalf("no Adam moments for %s", name)
					}
					W, E := state[k][name], state[k]["/ema"+name]
					for i := range mk {
						mPrev, vPrev, ePrev := 0.0, 0.0, 0.0
						if k > 1 {
							mPrev, vPrev, ePrev = m(k-1, name)[i], v(k-1, name)[i], state[k-1]["/ema"+name][i]
						}
						g := (mk[i] - adamBeta1*mPrev) / (1 - adamBeta1)
						sq += g * g
						// Second moment: relative to its size (float32 storage).
						if want := adamBeta2*vPrev + (1-adamBeta2)*g*g; want > 1e-30 {
							worstV = math.Max(worstV, math.Abs(vk[i]-want)/want)
						}
						if k > 1 {
							mh, vh := mk[i]/(1-math.Pow(adamBeta1, float64(k))), vk[i]/(1-math.Pow(adamBeta2, float64(k)))
							step := wantLR * mh / (math.Sqrt(vh) + adamEps)
							want := state[k-1][name][i] - step
							// One float32 rounding of W, and the step to about 1e-3 of itself.
							worstW = math.Max(worstW, math.Abs(W[i]-want)/(3e-7*math.Abs(W[i])+1e-3*math.Abs(step)+1e-12))
						}
						want := d*ePrev + (1-d)*W[i]
						worstE = math.Max(worstE, math.Abs(E[i]-want)/(3e-7*(math.Abs(E[i])+math.Abs(W[i]))+1e-12))
					}
				}
				norm := math.Sqrt(sq)
				wantNorm := st.GradNorm
				if cfg.GradClip > 0 {
					wantNorm = math.Min(st.GradNorm, cfg.GradClip)
				}
				if math.Abs(norm-wantNorm) > 1e-3*wantNorm {
					t.Errorf("step %d: global norm of the applied gradient %g, want %g (reported norm %g, clip %g)", k, norm, wantNorm, st.GradNorm, cfg.GradClip)
				}
				if worstV > 1e-3 {
					t.Errorf("step %d: Adam's second moment off by %.2g relative", k, worstV)
				}
				if worstW > 1 {
					t.Errorf("step %d: weights off the Adam update by %.2g times the tolerance", k, worstW)
				}
				if worstE > 1 {
					t.Errorf("step %d: EMA off its update (decay %g) by %.2g times the tolerance", k, d, worstE)
				}
				t.Logf("step %d: |g| %.4g (reported %.4g), lr %.3g, EMA decay %.3g; worst: v %.1e rel, W %.2f tol, EMA %.2f tol", k, norm, st.GradNorm, st.LearningRate, d, worstV, worstW, worstE)
			}
		})
	}
}
