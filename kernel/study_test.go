package kernel

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/eval"
)

func TestReadStudy(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadStudy(dir); err == nil || !strings.Contains(err.Error(), "scripts/study.sh") {
		t.Fatalf("empty folder: %v", err)
	}
	write := func(name string, r eval.Report) {
		b, _ := json.Marshal(r)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	q := func(fd float64) *eval.QualityReport {
		return &eval.QualityReport{Samples: eval.Quality{N: 128, Frechet: fd, Precision: 0.5, Recall: 0.25, Labels: eval.LabelStats{Entropy: 0.1, Score: 8}}}
	}
	first := eval.Report{BPD: &eval.BPDReport{BitsPerDim: 1.5, StdErr: 0.01}, Quality: q(3)}
	first.Quality.Baselines = &eval.Baselines{TrainVsTest: eval.Quality{N: 128, Frechet: 0.5}, Noise: eval.Quality{N: 128, Frechet: 99}}
	write("simple-fixed-large.json", first)
	write("hybrid-learned.json", eval.Report{Step: 10000, BPD: &eval.BPDReport{BitsPerDim: 1.2, StdErr: 0.02}, Quality: q(5)})
	write("ddim10.json", eval.Report{Quality: q(9)})
	write("ddim50.json", eval.Report{Quality: q(4)})
	os.WriteFile(filepath.Join(dir, "times.tsv"), []byte("train/simple-fixed-large\t600\truns/study/ddpm train -preset mnist -steps 600 -loss simple\neval/ddim10\t30\tx\n"), 0o644)
	s, err := ReadStudy(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Runs) != 2 || s.Runs[1].Name != "hybrid-learned" || len(s.DDIM) != 2 || s.Steps != 600 || s.Runs[0].TrainSeconds != 600 {
		t.Fatalf("read %+v", s)
	}
	table := s.Table()
	for _, want := range []string{"1.500 ± 0.010", "L_hybrid", "learned-range", "10.0 min", "uniform noise", "99.00"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}
	if d := s.DDIMTable(); !strings.Contains(d, "ddim10") || !strings.Contains(d, "9.00") || !strings.Contains(d, "ancestral") {
		t.Errorf("DDIM table:\n%s", d)
	}
	for _, draw := range []func() ([]byte, error){s.TradeoffChart, s.DDIMChart} {
		png, err := draw()
		if err != nil || len(png) < 100 || string(png[1:4]) != "PNG" {
			t.Errorf("chart: %v (%d bytes)", err, len(png))
		}
	}
	if _, err := s.CurveChart(); err == nil {
		t.Error("a curve chart without curves")
	}

	// The converged study's layout: reports that record their objective,
	// bits/dim curves and loss logs.
	fixedSmall := eval.Report{Step: 7, Variance: "fixed-small", Config: json.RawMessage(`{"loss":"simple","variance":"fixed-large"}`),
		BPD: &eval.BPDReport{BitsPerDim: 1.4, StdErr: 0.01, Decoder: 0.625}, Quality: q(4)}
	write("simple-fixed-small.json", fixedSmall)
	os.MkdirAll(filepath.Join(dir, "curves"), 0o755)
	for _, p := range []struct {
		name string
		bpd  float64
	}{{"hybrid-learned-2000", 1.9}, {"hybrid-learned-1000", 2.5}, {"hybrid-learned-10000", 1.6}, {"hybrid-learned-x", 9}, {"hybrid-learned-20000", 1.5}} {
		write(filepath.Join("curves", p.name+".json"), eval.Report{BPD: &eval.BPDReport{BitsPerDim: p.bpd, Decoder: p.bpd / 4, Images: 256, Strata: 20}})
	}
	os.WriteFile(filepath.Join(dir, "simple.metrics.jsonl"), []byte("{\"step\":100,\"loss\":0.08}\n{\"step\":200,\"loss\":0.04}\n{\"step\":300,\"loss\":0.03}\n{\"step\":400,\"loss\":0.03}\n"), 0o644)
	if s, err = ReadStudy(dir); err != nil {
		t.Fatal(err)
	}
	if r := s.Runs[1]; r.Name != "simple-fixed-small" || r.Loss != "simple" || r.Variance != "fixed-small" {
		t.Errorf("second row %s: loss %s, variance %s", r.Name, r.Loss, r.Variance)
	}
	c := s.Runs[2].Curve
	if len(c) != 3 || c[0].Step != 1000 || c[1].Step != 2000 || c[2].Step != 10000 || c[2].BPD != 1.6 || c[2].Decoder != 0.4 {
		t.Errorf("hybrid curve %+v", c)
	}
	if len(s.Losses["simple"]) != 4 {
		t.Errorf("losses %+v", s.Losses)
	}
	for _, draw := range []func() ([]byte, error){s.CurveChart, func() ([]byte, error) { return s.LossChart(2) }} {
		png, err := draw()
		if err != nil || len(png) < 100 || string(png[1:4]) != "PNG" {
			t.Errorf("chart: %v (%d bytes)", err, len(png))
		}
	}
	if table := s.Table(); !strings.Contains(table, "fixed-small") || !strings.Contains(table, "| 1.400 ± 0.010 | 0.625 |") {
		t.Errorf("table:\n%s", table)
	}

	// Without training commands in times.tsv the budget is the reports' step.
	only := t.TempDir()
	b, _ := json.Marshal(eval.Report{Step: 23194, BPD: &eval.BPDReport{BitsPerDim: 1.9, StdErr: 0.01}})
	os.WriteFile(filepath.Join(only, "simple-fixed-large.json"), b, 0o644)
	os.WriteFile(filepath.Join(only, "times.tsv"), []byte("eval/simple-fixed-large\t1029\tx\n"), 0o644)
	if s, err := ReadStudy(only); err != nil || s.Steps != 23194 || s.Runs[0].EvalSeconds != 1029 {
		t.Errorf("study without training times: %+v, %v", s, err)
	}

	os.WriteFile(filepath.Join(dir, "vlb-fixed-large.json"), []byte("{not json"), 0o644)
	if _, err := ReadStudy(dir); err == nil || !strings.Contains(err.Error(), "vlb-fixed-large.json") {
		t.Errorf("damaged report: %v", err)
	}
}
