package main

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/backend"
	"github.com/diffusion-go/ddpm/checkpoint"
	"github.com/diffusion-go/ddpm/data"
	"github.com/diffusion-go/ddpm/eval"
	"github.com/diffusion-go/ddpm/train"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var o, e bytes.Buffer
	code = run(args, &o, &e)
	return code, o.String(), e.String()
}

// TestHelp: -h prints each command's usage on stdout, as written in its
// flag set, and exits 0; a flag error prints it on stderr with exit 1.
func TestHelp(t *testing.T) {
	for _, tc := range []struct {
		command string
		mention []string
	}{
		{"info", nil},
		{"train", []string{"-preset", "-dir", "-steps", "-ema", "-checkpoint-every", "Examples:"}},
		{"sample", []string{"-method", "-steps", "-spacing", "-progressive", "-interpolate", "shipped MNIST model"}},
		{"eval", []string{"-samples", "-baselines", "-strata", "-json", "-classifier"}},
		{"export", []string{"-ckpt", "-out", "-commit", "-wall-seconds"}},
		{"classifier", []string{"-out"}},
		{"bench", []string{"-torch"}},
	} {
		code, stdout, stderr := runCLI(tc.command, "-h")
		if code != 0 || stderr != "" || !strings.Contains(stdout, "Usage: ddpm "+tc.command+" [flags]") {
			t.Errorf("ddpm %s -h: exit %d, stdout %.200q, stderr %q; want the usage on stdout and exit 0", tc.command, code, stdout, stderr)
			continue
		}
		for _, m := range tc.mention {
			if !strings.Contains(stdout, m) {
				t.Errorf("ddpm %s -h does not mention %q:\n%s", tc.command, m, stdout)
			}
		}
	}
	code, stdout, _ := runCLI("-h")
	for _, c := range commands {
		if code != 0 || !strings.Contains(stdout, "  "+c.name) {
			t.Errorf("ddpm -h: exit %d, no line for %q:\n%s", code, c.name, stdout)
		}
	}
	code, stdout, stderr := runCLI("train", "-no-such-flag")
	if code != 1 || stdout != "" || !strings.Contains(stderr, "flag provided but not defined: -no-such-flag") || !strings.Contains(stderr, "Usage: ddpm train") {
		t.Errorf("train -no-such-flag: exit %d, stdout %q, stderr %.200q", code, stdout, stderr)
	}
}

func TestBadCommandLines(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args    []string
		code    int
		mention string
	}{
		{[]string{"fly"}, 2, `unknown command "fly"`},
		{[]string{"train", "-preset", "imagenet", "-dir", dir}, 1, "valid presets are cifar10, mnist, tiny"},
		{[]string{"train", "-preset", "mnist"}, 1, "-dir is required"},
		{[]string{"train", "-dir", dir, "-loss", "kl"}, 1, "valid values are simple, vlb, hybrid"},
		{[]string{"train", "-dir", dir, "-variance", "learned-range"}, 1, "use loss vlb or hybrid"},
		{[]string{"train", "-dir", dir, "-data", "imagenet"}, 1, "valid values are mnist, cifar10, folder:PATH"},
		{[]string{"train", "-dir", dir, "extra"}, 1, `unexpected argument "extra"`},
		{[]string{"train", "-dir", dir, "-steps", "-5"}, 1, "steps -5"},
		{[]string{"sample", "-dir", dir}, 1, "no checkpoint"},
		{[]string{"sample", "-ckpt", filepath.Join(dir, "nope.ddpm")}, 1, "no such file"},
		{[]string{"sample", "-dir", dir, "-method", "euler"}, 1, "valid values are ddpm, ddim"},
		{[]string{"eval", "-bpd=false"}, 1, "nothing to measure"},
		{[]string{"train", "-dir", dir, "-channel-mult", "1,x"}, 1, `-channel-mult "1,x"`},
		{[]string{"train", "-dir", dir, "-attn", "0"}, 1, "positive integers"},
		{[]string{"train", "-dir", dir, "-groups", "5"}, 1, "not divisible by 5 GroupNorm groups"},
	} {
		code, _, stderr := runCLI(tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.mention) {
			t.Errorf("ddpm %v: exit %d, stderr %q; want exit %d mentioning %q", tc.args, code, stderr, tc.code, tc.mention)
		}
	}
	// A damaged checkpoint is reported, and not modified.
	bad := filepath.Join(dir, "ckpt-000000001.ddpm")
	_ = os.WriteFile(bad, []byte("DDPMCKPT garbage"), 0o644)
	if code, _, stderr := runCLI("sample", "-dir", dir); code != 1 || !strings.Contains(stderr, "damaged") {
		t.Errorf("damaged checkpoint: exit %d, %q", code, stderr)
	}
	if b, _ := os.ReadFile(bad); string(b) != "DDPMCKPT garbage" {
		t.Error("the damaged checkpoint was modified")
	}
}

// TestTrainSampleRoundTrip trains the tiny preset on a folder of generated
// images for a few steps, then samples from the checkpoint; running train
// again resumes instead of starting over.
func TestTrainSampleRoundTrip(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the U-Net twice; skipped in -short mode")
	}
	imgs := t.TempDir()
	for i := range 6 {
		img := image.NewGray(image.Rect(0, 0, 8, 8))
		img.SetGray(i, i, color.Gray{255})
		f, _ := os.Create(filepath.Join(imgs, string(rune('a'+i))+".png"))
		_ = png.Encode(f, img)
		f.Close()
	}
	run := t.TempDir()
	code, stdout, stderr := runCLI("train", "-preset", "tiny", "-dir", run, "-data", "folder:"+imgs, "-steps", "3", "-batch", "4", "-log-every", "1")
	if code != 0 {
		t.Fatalf("train: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stdout, "step 3/3") {
		t.Errorf("train output lacks progress:\n%s", stdout)
	}
	code, stdout, stderr = runCLI("train", "-preset", "tiny", "-dir", run, "-data", "folder:"+imgs, "-steps", "4", "-batch", "4")
	if code != 0 || !strings.Contains(stdout, "resuming") || !strings.Contains(stdout, "at step 3 of 4") {
		t.Fatalf("second train: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI("eval", "-dir", run, "-data", "folder:"+imgs, "-n", "4", "-json")
	if code != 0 || !strings.Contains(stdout, `"bits_per_dim"`) {
		t.Fatalf("eval: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI("eval", "-dir", run, "-data", "folder:"+imgs, "-n", "4", "-strata", "3")
	if code != 0 || !strings.Contains(stdout, "estimate from 3 strata") {
		t.Fatalf("eval -strata: exit %d\n%s\n%s", code, stdout, stderr)
	}
	code, stdout, stderr = runCLI("eval", "-dir", run, "-data", "folder:"+imgs, "-n", "4", "-strata", "3", "-json")
	var got eval.Report
	if code != 0 || json.Unmarshal([]byte(stdout), &got) != nil || got.BPD == nil {
		t.Fatalf("eval -strata -json: exit %d\n%s\n%s", code, stdout, stderr)
	}
	checkEvalAgainstLibrary(t, run, imgs, got.BPD)

	// Sample quality, in the features of a classifier of the folder's images.
	folder, err := data.LoadFolder(imgs, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	folder.Labels = []uint8{0, 1, 0, 1, 0, 1}
	ccfg := eval.DefaultClassifierConfig()
	ccfg.ImageSize, ccfg.Classes, ccfg.Features, ccfg.Epochs, ccfg.BatchSize = 8, 2, 4, 1, 2
	c, err := eval.TrainClassifier(backend.MustNew(), ccfg, folder, folder, nil)
	if err != nil {
		t.Fatal(err)
	}
	cpath := filepath.Join(t.TempDir(), "c.ddpm")
	if err := c.Save(cpath); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr = runCLI("eval", "-dir", run, "-data", "folder:"+imgs, "-bpd=false", "-samples", "6", "-steps", "5",
		"-classifier", cpath, "-baselines", "-json")
	var rep eval.Report
	if code != 0 || json.Unmarshal([]byte(stdout), &rep) != nil || rep.Quality == nil || rep.Quality.Baselines == nil {
		t.Fatalf("eval -samples: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if q := rep.Quality.Baselines.TrainVsTest; q.Precision != 1 || q.Recall != 1 {
		t.Errorf("the folder against itself: %+v, want precision and recall 1", q)
	}
	if h := rep.Quality.Baselines.HeldOut; h != nil {
		t.Errorf("6 test images for 6 samples: a held-out baseline %+v, want none (it needs 12)", h)
	}
	code, _, stderr = runCLI("eval", "-dir", run, "-data", "folder:"+imgs, "-bpd=false", "-samples", "5", "-classifier", cpath)
	if code == 0 || !strings.Contains(stderr, "need more than 5 samples") {
		t.Errorf("-samples 5 (too few for density and coverage): exit %d, %s", code, stderr)
	}
	code, _, stderr = runCLI("eval", "-dir", run, "-data", "folder:"+imgs, "-samples", "6", "-classifier", filepath.Join(run, "none.ddpm"))
	if code == 0 || !strings.Contains(stderr, "needs the classifier") {
		t.Errorf("missing classifier: exit %d, %s", code, stderr)
	}

	out := filepath.Join(t.TempDir(), "grid.png")
	code, stdout, stderr = runCLI("sample", "-dir", run, "-n", "4", "-steps", "10", "-out", out)
	if code != 0 {
		t.Fatalf("sample: exit %d\n%s\n%s", code, stdout, stderr)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// 4 images of 8x8 at zoom 2 in 4 columns with 2-pixel borders: 4*(16+2)+2 = 74 wide.
	if img.Bounds().Dx() != 74 || img.Bounds().Dy() != 20 {
		t.Errorf("grid is %v, want 74x20", img.Bounds())
	}
}

// checkEvalAgainstLibrary recomputes `ddpm eval -n 4 -strata 3` (its defaults: seed 1, x_0 clipped,
// EMA weights, one batch) with the library on the newest checkpoint of run,
// and the mean and standard error on the host from the per-image totals.
func checkEvalAgainstLibrary(t *testing.T, run, imgs string, rep *eval.BPDReport) {
	t.Helper()
	ck, err := checkpoint.Latest(run)
	if err != nil || ck == nil {
		t.Fatalf("the run's checkpoint: %v", err)
	}
	tm, err := train.TrainedFromFile(ck, true)
	if err != nil {
		t.Fatal(err)
	}
	folder, err := data.LoadFolder(imgs, 8, 1)
	if err != nil {
		t.Fatal(err)
	}
	x0 := tensors.FromFlatDataAndDimensions(folder.Subset(4).Float(), 4, 8, 8, 1)
	res, err := tm.BPD(backend.MustNew(), x0, ddpm.BPDOptions{Seed: 1, Strata: 3, ClipX0: true})
	if err != nil {
		t.Fatal(err)
	}
	n := float64(len(res.Total))
	m, v := 0.0, 0.0
	for _, x := range res.Total {
		m += x / n
	}
	for _, x := range res.Total {
		v += (x - m) * (x - m) / (n - 1)
	}
	se := math.Sqrt(v / n)
	if rep.Images != 4 || math.Abs(rep.BitsPerDim-m) > 1e-9*(1+m) || math.Abs(rep.StdErr-se) > 1e-9*(1+se) {
		t.Errorf("ddpm eval -json: %d images, %.9f ± %.9f bits/dim; the library on the same checkpoint and seed: 4 images, %.9f ± %.9f",
			rep.Images, rep.BitsPerDim, rep.StdErr, m, se)
	}
}

// The tiny preset trains on MNIST, its default data, resized to its 8x8.
func TestTrainTinyOnMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the tiny U-Net's training step; skipped in -short mode")
	}
	code, stdout, stderr := runCLI("train", "-preset", "tiny", "-dir", t.TempDir(), "-steps", "1", "-batch", "4")
	if code != 0 || !strings.Contains(stdout, "-data mnist: images resized to 8x8 for the model") || !strings.Contains(stdout, "step 1/1") {
		t.Fatalf("train: exit %d\n%s\n%s", code, stdout, stderr)
	}
}
