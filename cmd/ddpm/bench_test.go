package main

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
)

// The measuring worker produces a complete, self-consistent result.
func TestBenchWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles the tiny U-Net's training step; skipped in -short mode")
	}
	code, stdout, stderr := runCLI("bench", "-worker", "-presets", "tiny", "-train-steps", "2", "-sample-steps", "2")
	if code != 0 {
		t.Fatalf("bench -worker: exit %d\n%s", code, stderr)
	}
	var r benchResult
	if err := json.Unmarshal([]byte(stdout), &r); err != nil {
		t.Fatalf("%v: %s", err, stdout)
	}
	if r.Impl != "go" || r.Preset != "tiny" || r.Parameters != 44969 || r.Batch != 8 {
		t.Errorf("result %+v", r)
	}
	for name, v := range map[string]float64{"train step": r.TrainStepSeconds, "ancestral step": r.AncestralStepSeconds, "DDIM step": r.DDIMStepSeconds,
		"bfloat16 train step": r.TrainBF16StepSeconds, "bfloat16 ancestral step": r.AncestralBF16StepSeconds} {
		if !(v > 0) {
			t.Errorf("%s time %v", name, v)
		}
	}
	if r.BF16Precision != "bfloat16" {
		t.Errorf("bfloat16 times recorded as %q, want the default bfloat16", r.BF16Precision)
	}
	if math.Abs(r.TrainImagesPerSec-float64(r.Batch)/r.TrainStepSeconds) > 1e-9 ||
		math.Abs(r.Ancestral1000PerSec-float64(r.Batch)/(1000*r.AncestralStepSeconds)) > 1e-12 ||
		math.Abs(r.DDIM50PerSec-float64(r.Batch)/(50*r.DDIMStepSeconds)) > 1e-12 {
		t.Errorf("rates do not follow from the step times: %+v", r)
	}
}

// Medians over rounds, and ratios Go / PyTorch per preset.
func TestBenchSummary(t *testing.T) {
	s := benchSummary{Median: map[string]benchResult{}}
	for i, v := range []float64{3, 1, 2} {
		s.Rounds = append(s.Rounds,
			benchResult{Impl: "go", Preset: "mnist", TrainImagesPerSec: 10 * v, Ancestral1000PerSec: v, DDIM50PerSec: v, PeakRSSBytes: int64(100 * (i + 1))},
			benchResult{Impl: "pytorch", Preset: "mnist", TrainImagesPerSec: 40, Ancestral1000PerSec: 1, DDIM50PerSec: 4, PeakRSSBytes: 100})
	}
	s.summarise()
	g := s.Median["go/mnist"]
	if g.TrainImagesPerSec != 20 || g.Ancestral1000PerSec != 2 || g.PeakRSSBytes != 200 {
		t.Errorf("medians %+v", g)
	}
	r := s.Ratio["mnist"]
	if r["train_images_per_sec"] != 0.5 || r["ancestral1000_images_per_sec"] != 2 || r["ddim50_images_per_sec"] != 0.5 || r["peak_rss"] != 2 {
		t.Errorf("ratios %v", r)
	}
	// GFLOP/s of a PyTorch result come from the same count: mnist at batch
	// 64 is 72.9 GFLOP per training step, 24.3 per sampler step.
	pt := benchResult{Impl: "pytorch", Preset: "mnist", Batch: 64, TrainStepSeconds: 0.5, AncestralStepSeconds: 0.25}
	pt.addGFLOPS()
	if math.Abs(pt.TrainGFLOPS-145.9) > 0.1 || math.Abs(pt.SampleGFLOPS-97.3) > 0.1 {
		t.Errorf("GFLOP/s %.2f and %.2f, want 145.9 (72.95 GFLOP in 0.5 s) and 97.3 (24.33 in 0.25 s)", pt.TrainGFLOPS, pt.SampleGFLOPS)
	}
	s.Median["go/mnist"] = func(m benchResult) benchResult { m.TrainGFLOPS, m.SampleGFLOPS = 100, 50; return m }(s.Median["go/mnist"])
	s.Peak = &benchPeak{Size: 2048, Float32GFLOPS: 200, BFloat16GFLOPS: 400}
	var b bytes.Buffer
	s.table(&b, []string{"mnist"})
	if !strings.Contains(b.String(), "200.0 GFLOP/s in float32, 400.0 in bfloat16") || !strings.Contains(b.String(), "training at 50% and sampling at 25%") {
		t.Errorf("peak lines:\n%s", b.String())
	}
	if !strings.Contains(b.String(), "go/torch") || !strings.Contains(b.String(), "0.50x") {
		t.Errorf("table:\n%s", b.String())
	}
}

// Each PyTorch configuration gets its own ratios, and a bfloat16 one is also
// compared with Go's bfloat16 training and sampler steps.
func TestBenchSummaryTorchConfigs(t *testing.T) {
	s := benchSummary{Median: map[string]benchResult{}}
	s.Rounds = []benchResult{
		{Impl: "go", Preset: "mnist", TrainImagesPerSec: 100, Ancestral1000PerSec: 1, DDIM50PerSec: 1, PeakRSSBytes: 1,
			AncestralStepSeconds: 0.2, AncestralBF16StepSeconds: 0.1, TrainStepSeconds: 0.5, TrainBF16StepSeconds: 0.25},
		{Impl: "pytorch", Preset: "mnist", TrainImagesPerSec: 50, Ancestral1000PerSec: 1, DDIM50PerSec: 1, PeakRSSBytes: 1, AncestralStepSeconds: 0.2},
		{Impl: "pytorch-compile-bf16", Preset: "mnist", TrainImagesPerSec: 200, Ancestral1000PerSec: 2, DDIM50PerSec: 2, PeakRSSBytes: 1,
			AncestralStepSeconds: 0.15, TrainStepSeconds: 0.3},
	}
	s.summarise()
	if r := s.Ratio["mnist"]; r["train_images_per_sec"] != 2 {
		t.Errorf("against eager PyTorch: %v", r)
	}
	r := s.Ratio["mnist/pytorch-compile-bf16"]
	if r["train_images_per_sec"] != 0.5 || r["ancestral1000_images_per_sec"] != 0.5 || math.Abs(r["ancestral_step_bf16"]-1.5) > 1e-12 ||
		math.Abs(r["train_step_bf16"]-1.2) > 1e-12 {
		t.Errorf("against compiled bfloat16 PyTorch: %v", r)
	}
	for _, k := range []string{"ancestral_step_bf16", "train_step_bf16"} {
		if _, ok := s.Ratio["mnist"][k]; ok {
			t.Errorf("a float32 PyTorch run compared with Go's bfloat16 step (%s)", k)
		}
	}
	var b bytes.Buffer
	s.table(&b, []string{"mnist"})
	for _, want := range []string{"go/compile-bf16", "sampler step, both with bfloat16 products: Go 1.50x the speed of pytorch-compile-bf16",
		"training step, both with bfloat16 products: Go 1.20x the speed of pytorch-compile-bf16", "training step: 0.5000 s in float32, 0.2500 s with bfloat16 products (2.00x)"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
}
