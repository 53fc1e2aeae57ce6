package kernel

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/eval"
	"github.com/diffusion-go/ddpm/train"
)

// writeRecipe writes a report as ddpm eval would, and a metrics log.
func writeRecipe(t *testing.T, dir, name string, cfg train.Config, bpd, se, frechet float64, sampler string, stepSecs ...float64) {
	t.Helper()
	raw, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	rep := eval.Report{Config: raw,
		BPD:     &eval.BPDReport{Images: 500, Strata: 20, BitsPerDim: bpd, StdErr: se},
		Quality: &eval.QualityReport{Sampler: sampler, Samples: eval.Quality{N: 1000, Frechet: frechet}}}
	b, _ := json.Marshal(rep)
	if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	var m []string
	for i, s := range stepSecs {
		l, _ := json.Marshal(train.StepStats{Step: int64(100 * (i + 1)), Loss: 0.05, Seconds: s})
		m = append(m, string(l))
	}
	if err := os.WriteFile(filepath.Join(dir, name+".metrics.jsonl"), []byte(strings.Join(m, "\n")), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRecipeTable: the rows come base first and then in the script's order,
// each names its change from base as ddpm train flags, the bits/dim
// difference is given in standard errors of the difference, the step time
// is the median, and a run evaluated with another sampler is refused.
func TestRecipeTable(t *testing.T) {
	dir := t.TempDir()
	base, err := train.DefaultConfig("mnist")
	if err != nil {
		t.Fatal(err)
	}
	v := base
	v.Prediction, v.MinSNRGamma = 2, 5 // v-prediction (the enum's third value)
	wide := base
	wide.Model.Channels, wide.BatchSize = 64, 128
	writeRecipe(t, dir, "wide", wide, 2.0, 0.03, 40, "dpm-solver++ 20", 2, 2, 2)
	writeRecipe(t, dir, "base", base, 2.1, 0.03, 50, "dpm-solver++ 20", 0.5, 0.7, 0.6)
	writeRecipe(t, dir, "v", v, 2.2, 0.04, 60, "dpm-solver++ 20", 1)
	times := "train/base\t1\tx\ntrain/v\t1\tx\neval/v\t1\tx\ntrain/wide\t1\tx\n"
	if err := os.WriteFile(filepath.Join(dir, "times.tsv"), []byte(times), 0o644); err != nil {
		t.Fatal(err)
	}
	rs, err := ReadRecipes(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, r := range rs {
		names = append(names, r.Name)
	}
	if got := strings.Join(names, ","); got != "base,v,wide" {
		t.Fatalf("order %s, want base,v,wide", got)
	}
	if rs[0].StepSeconds != 0.6 {
		t.Errorf("base step time %g, want the median 0.6", rs[0].StepSeconds)
	}
	if got := RecipeChange(base, v); got != "-prediction v -min-snr 5" {
		t.Errorf("change of v: %q", got)
	}
	if got := RecipeChange(base, wide); got != "-batch 128 -channels 64" {
		t.Errorf("change of wide: %q", got)
	}
	bf16 := base
	bf16.Precision = "bfloat16"
	if got := RecipeChange(base, bf16); got != "-precision bfloat16" {
		t.Errorf("change of bf16: %q", got)
	}
	if got := RecipeChange(base, base); got != "preset" {
		t.Errorf("change of base: %q", got)
	}
	if rs[2].TrainGFLOP() <= 2*rs[0].TrainGFLOP() {
		t.Errorf("twice the batch and width: %.1f GFLOP/step against base's %.1f", rs[2].TrainGFLOP(), rs[0].TrainGFLOP())
	}
	table, err := RecipeTable(rs)
	if err != nil {
		t.Fatal(err)
	}
	// v: +0.1 bits/dim against a standard error of the difference of 0.05.
	if !strings.Contains(table, "+0.100 (+2.0)") {
		t.Errorf("table lacks v's difference +0.100 (+2.0 σ):\n%s", table)
	}
	writeRecipe(t, dir, "ddim", base, 2.1, 0.03, 70, "ddim 20")
	rs, err = ReadRecipes(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := RecipeTable(rs); err == nil || !strings.Contains(err.Error(), "ddim 20") {
		t.Errorf("a run sampled with another sampler: err = %v, want a refusal naming it", err)
	}
}
