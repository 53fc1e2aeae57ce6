package train

import (
	gocontext "context"
	"errors"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/backend"
	"github.com/diffusion-go/ddpm/checkpoint"
	"github.com/diffusion-go/ddpm/data"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// synthetic returns n random 8x8 grey images: a bright square on a dark background.
func synthetic(n int) *data.Images {
	rng := rand.New(rand.NewPCG(1, 1))
	im := &data.Images{N: n, H: 8, W: 8, C: 1, Pixels: make([]uint8, n*64)}
	for i := range n {
		x, y := rng.IntN(5), rng.IntN(5)
		for dy := range 3 {
			for dx := range 3 {
				im.Pixels[i*64+(y+dy)*8+x+dx] = 255
			}
		}
	}
	return im
}

func tinyConfig(t *testing.T) Config {
	cfg, err := DefaultConfig("tiny")
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// trainTiny runs the tiny preset on synthetic images in dir up to cfg.Steps.
func trainTiny(t *testing.T, cfg Config, dir string) {
	t.Helper()
	tr, err := New(backend.MustNew(), cfg, dir, synthetic(20))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.Run(gocontext.Background(), 1, nil); err != nil {
		t.Fatal(err)
	}
}

func weights(t *testing.T, tr *Trainer) map[string][]float32 {
	out := map[string][]float32{}
	for v := range tr.ctx.IterVariables() {
		val, err := v.Value()
		if err != nil {
			t.Fatal(err)
		}
		var f []float32
		_ = val.ConstFlatData(func(a any) {
			if x, ok := a.([]float32); ok {
				f = append(f, x...)
			}
		})
		if f != nil {
			out[v.Scope()+"/"+v.Name()] = f
		}
	}
	return out
}

// TestResumeIsExact: a run interrupted at a checkpoint and resumed in a new
// Trainer ends with the same weights, optimizer state and EMA as a run that
// was never interrupted.
func TestResumeIsExact(t *testing.T) {
	b := backend.MustNew()
	ds := synthetic(20)
	cfg := tinyConfig(t)
	cfg.Steps, cfg.CheckpointEvery = 6, 3

	straight := t.TempDir()
	tr, err := New(b, cfg, straight, ds)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr.Run(gocontext.Background(), 1, nil); err != nil {
		t.Fatal(err)
	}
	want := weights(t, tr)
	tr.Close()

	dir := t.TempDir()
	half := cfg
	half.Steps = 3
	tr1, err := New(b, half, dir, ds)
	if err != nil {
		t.Fatal(err)
	}
	if err := tr1.Run(gocontext.Background(), 1, nil); err != nil {
		t.Fatal(err)
	}
	tr1.Close()
	tr2, err := New(b, cfg, dir, ds)
	if err != nil {
		t.Fatal(err)
	}
	if tr2.Step() != 3 {
		t.Fatalf("resumed at step %d, want 3", tr2.Step())
	}
	if err := tr2.Run(gocontext.Background(), 1, nil); err != nil {
		t.Fatal(err)
	}
	got := weights(t, tr2)
	tr2.Close()
	if len(got) != len(want) {
		t.Fatalf("resumed run has %d variables, straight run %d", len(got), len(want))
	}
	for name, w := range want {
		g := got[name]
		for i := range w {
			if g[i] != w[i] {
				t.Fatalf("variable %s[%d]: resumed %g, straight %g", name, i, g[i], w[i])
			}
		}
	}
	// Metrics: one line per step, none duplicated by the resume.
	m, _ := os.ReadFile(filepath.Join(dir, metricsFile))
	if n := strings.Count(string(m), "\n"); n != 6 {
		t.Errorf("metrics log has %d lines, want 6:\n%s", n, m)
	}
}

func TestResumeRejectsOtherConfig(t *testing.T) {
	b := backend.MustNew()
	ds := synthetic(20)
	cfg := tinyConfig(t)
	cfg.Steps = 2
	dir := t.TempDir()
	trainTiny(t, cfg, dir)
	cfg.LearningRate = 1e-3
	if _, err := New(b, cfg, dir, ds); err == nil || !strings.Contains(err.Error(), "learning_rate") {
		t.Errorf("resuming with another learning rate: err=%v", err)
	}
}

func TestNaNLossStopsWithoutWriting(t *testing.T) {
	b := backend.MustNew()
	ds := synthetic(20)
	cfg := tinyConfig(t)
	cfg.Steps, cfg.CheckpointEvery = 4, 2
	dir := t.TempDir()
	trainTiny(t, cfg, dir)
	before, _ := checkpoint.List(dir)
	stat0, _ := os.Stat(before[len(before)-1])

	cfg.Steps = 8
	tr, err := New(b, cfg, dir, ds)
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	tr.Config.LearningRate = 1e30 // Not part of the compiled graph yet: it is read when the step is built.
	err = tr.Run(gocontext.Background(), 1, nil)
	if !errors.Is(err, ErrNonFinite) {
		t.Fatalf("training with lr=1e30: err=%v, want a non-finite loss error", err)
	}
	after, _ := checkpoint.List(dir)
	stat1, _ := os.Stat(after[len(after)-1])
	if len(after) != len(before) || after[len(after)-1] != before[len(before)-1] || !stat1.ModTime().Equal(stat0.ModTime()) {
		t.Errorf("checkpoints changed after a NaN: before %v, after %v", before, after)
	}
	if _, err := checkpoint.Read(after[len(after)-1]); err != nil {
		t.Errorf("last checkpoint unreadable after a NaN: %v", err)
	}
}

func TestDamagedCheckpoint(t *testing.T) {
	b := backend.MustNew()
	ds := synthetic(20)
	cfg := tinyConfig(t)
	cfg.Steps = 2
	dir := t.TempDir()
	trainTiny(t, cfg, dir)
	paths, _ := checkpoint.List(dir)
	raw, _ := os.ReadFile(paths[0])
	for name, bad := range map[string][]byte{
		"truncated":  raw[:len(raw)-10],
		"bit flip":   append(append([]byte{}, raw[:len(raw)-5]...), raw[len(raw)-5]^1, raw[len(raw)-4], raw[len(raw)-3], raw[len(raw)-2], raw[len(raw)-1]),
		"not a ckpt": []byte("hello"),
		"empty":      nil,
	} {
		p := filepath.Join(t.TempDir(), "ckpt-000000002.ddpm")
		_ = os.WriteFile(p, bad, 0o644)
		if _, err := checkpoint.Read(p); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("%s: err=%v, want a damaged-checkpoint error", name, err)
		}
		if _, err := New(b, cfg, filepath.Dir(p), ds); err == nil || !strings.Contains(err.Error(), "damaged") {
			t.Errorf("%s: resuming: err=%v", name, err)
		}
	}
}

func TestWrongImageSize(t *testing.T) {
	cfg := tinyConfig(t)
	ds := &data.Images{N: 1, H: 28, W: 28, C: 1, Pixels: make([]uint8, 784)}
	if _, err := New(backend.MustNew(), cfg, t.TempDir(), ds); err == nil || !strings.Contains(err.Error(), "28x28x1 but the tiny model takes 8x8x1") {
		t.Errorf("err=%v", err)
	}
}

// TestPureGoTrains: the pure-Go backend trains the U-Net (the convolution
// gradients come from internal/convgrad; GoMLX v0.26.0's own need an op
// that backend lacks): three steps with finite losses that change every
// weight tensor the loss reaches. (The gradients themselves are compared
// with XLA's in unet's TestXLAConformsToPureGo; the two backends draw
// different random numbers, so whole training steps are not.)
func TestPureGoTrains(t *testing.T) {
	b, err := backends.NewWithConfig(backend.PureGoConfig)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Finalize()
	tr, err := New(b, tinyConfig(t), t.TempDir(), synthetic(20))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if _, err := tr.TrainStep(); err != nil { // Initialises the weights.
		t.Fatal(err)
	}
	before := weights(t, tr)
	for step := range 2 {
		st, err := tr.TrainStep()
		if err != nil {
			t.Fatalf("step %d: %v", step+2, err)
		}
		if math.IsNaN(st.Loss) || st.Loss <= 0 || st.GradNorm <= 0 {
			t.Fatalf("step %d: loss %g, gradient norm %g", step+2, st.Loss, st.GradNorm)
		}
	}
	for name, w := range weights(t, tr) {
		if strings.HasPrefix(name, "/ema") || strings.Contains(name, "rng") || strings.Contains(name, "global_step") {
			continue
		}
		if slices.Equal(w, before[name]) {
			t.Errorf("%s did not change in 2 steps", name)
		}
	}
}

// TestOldCheckpointSamples: checkpoints of every format version, committed
// in ../checkpoint/testdata (v1.ddpm, a training checkpoint of the first
// format; v2.ddpm, a training checkpoint of version 2; v2-model.ddpm, the
// version 2 model file `ddpm export` made of it), load for sampling: the
// training files with their EMA and their raw weights, which differ, the
// model file with its EMA weights only, and all give finite images of the
// model's shape. Every future version must keep passing this.
func TestOldCheckpointSamples(t *testing.T) {
	for _, tc := range []struct {
		file    string
		version int
		kind    checkpoint.Kind
		step    int64
	}{
		{"v1.ddpm", 1, "", -1},
		{"v2.ddpm", 2, checkpoint.Training, 3},
		{"v2-model.ddpm", 2, checkpoint.Model, 3},
	} {
		path := filepath.Join("..", "checkpoint", "testdata", tc.file)
		ck, err := checkpoint.Read(path)
		if err != nil {
			t.Fatal(err)
		}
		if ck.Version != tc.version || ck.Kind != tc.kind || (tc.step >= 0 && ck.Step != tc.step) {
			t.Errorf("%s: version %d, kind %q, step %d; want %d, %q, %d", tc.file, ck.Version, ck.Kind, ck.Step, tc.version, tc.kind, tc.step)
		}
		var images [][]float32
		for _, ema := range []bool{true, false} {
			tm, err := TrainedFromFile(ck, ema)
			if tc.kind == checkpoint.Model && !ema {
				if err == nil {
					t.Errorf("%s: a model file gave raw weights", tc.file)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s (ema=%v): %v", tc.file, ema, err)
			}
			if tm.Config.Model.ImageSize != 28 || tm.Config.Model.Channels != 4 {
				t.Fatalf("%s: configuration read as %+v", tc.file, tm.Config.Model)
			}
			res, err := tm.Sampler(backend.MustNew()).Sample([]int{2, 28, 28, 1}, ddpm.SampleOptions{Method: ddpm.DDIM, Steps: "5", Seed: 1})
			if err != nil {
				t.Fatal(err)
			}
			img := res.Images.Value().([][][][]float32)[0][0][0]
			for _, v := range img {
				if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
					t.Fatalf("%s (ema=%v): non-finite sample value %g", tc.file, ema, v)
				}
			}
			images = append(images, img)
		}
		if len(images) == 2 && slices.Equal(images[0], images[1]) {
			t.Errorf("%s: EMA and raw weights gave the same images", tc.file)
		}
	}
}

// TestSetVariance: a fixed-large model evaluated with fixed-small gives the
// bound of the same network under the other variance. Without clipping,
// mu~ - mu_theta = c1_t (x_0 - x̂_0), so each KL term has the closed form
// 0.5 (log(s2/betatilde) + betatilde/s2 - 1) + c1^2 |x_0 - x̂_0|^2 / (2 s2)
// per dimension for s2 = beta_t and s2 = betatilde_t, from the same x̂_0
// (the noise draws are seeded). A learned variance cannot be exchanged.
func TestSetVariance(t *testing.T) {
	ck, err := checkpoint.Read(filepath.Join("..", "checkpoint", "testdata", "v2-model.ddpm"))
	if err != nil {
		t.Fatal(err)
	}
	b := backend.MustNew()
	x0 := synthetic28(2)
	bounds := map[ddpm.VarianceType]*ddpm.BPD{}
	var s *ddpm.Schedule
	for _, v := range []ddpm.VarianceType{ddpm.FixedLarge, ddpm.FixedSmall} {
		tm, err := TrainedFromFile(ck, true)
		if err != nil {
			t.Fatal(err)
		}
		if tm.Diffusion.Variance != ddpm.FixedLarge {
			t.Fatalf("test model trained with %s, want fixed-large", tm.Diffusion.Variance)
		}
		s = tm.Diffusion.Schedule
		if err := tm.SetVariance(v); err != nil {
			t.Fatal(err)
		}
		if bounds[v], err = tm.BPD(b, x0, ddpm.BPDOptions{Seed: 3}); err != nil {
			t.Fatal(err)
		}
		if err := tm.SetVariance(ddpm.LearnedRange); err == nil || !strings.Contains(err.Error(), "only a fixed variance") {
			t.Errorf("SetVariance(learned-range) on a fixed-variance model: %v", err)
		}
	}
	for _, v := range []ddpm.VarianceType{ddpm.FixedLarge, ddpm.FixedSmall} {
		worst := 0.0
		for ti := 1; ti < s.T; ti++ {
			bt := s.PosteriorVariance[ti]
			s2 := bt
			if v == ddpm.FixedLarge {
				s2 = s.Betas[ti]
			}
			c1 := s.PosteriorMeanCoef1[ti]
			for i := range bounds[v].VB[ti] {
				want := (0.5*(math.Log(s2/bt)+bt/s2-1) + c1*c1*bounds[v].X0MSE[ti][i]/(2*s2)) / math.Ln2
				got := bounds[v].VB[ti][i]
				if d := math.Abs(got-want) / math.Max(want, 1e-3); d > worst {
					worst = d
				}
			}
		}
		t.Logf("%s: largest relative difference from the closed form %.2g", v, worst)
		if worst > 1e-4 {
			t.Errorf("%s: KL terms differ from the closed form by %.2g (relative)", v, worst)
		}
	}
	if l, sm := bounds[ddpm.FixedLarge].MeanTotal(), bounds[ddpm.FixedSmall].MeanTotal(); l == sm {
		t.Errorf("the two variances gave the same bound %g", l)
	}
}

// synthetic28 returns n 28x28x1 images in [-1, 1] as a tensor.
func synthetic28(n int) *tensors.Tensor {
	rng := rand.New(rand.NewPCG(2, 2))
	x := make([]float32, n*28*28)
	for i := range x {
		x[i] = float32(rng.IntN(256))/127.5 - 1
	}
	return tensors.FromFlatDataAndDimensions(x, n, 28, 28, 1)
}
