package kernel

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/eval"
)

// TestReadSamplingCurve: reports named <method>_<nfe>_s<seed>.json are read
// and sorted; the mean and spread over seeds are the mean and half the range;
// the baselines come from a report that has the held-out test digits, even
// when another report's come first; the chart and the table render; a
// folder without reports says so.
func TestReadSamplingCurve(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, frechet float64, baselines string) {
		r := eval.Report{Checkpoint: "pretrained:mnist", Step: 5740, Quality: &eval.QualityReport{Samples: eval.Quality{N: 1000, Frechet: frechet}}}
		switch baselines {
		case "train":
			r.Quality.Baselines = &eval.Baselines{TrainVsTest: eval.Quality{Frechet: 7.7}}
		case "held-out":
			r.Quality.Baselines = &eval.Baselines{TrainVsTest: eval.Quality{Frechet: 7.5}, HeldOut: &eval.Quality{N: 1000, Frechet: 4.9}}
		}
		b, _ := json.Marshal(r)
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("dpm-solver++_20_s1.json", 12, "held-out")
	write("dpm-solver++_20_s2.json", 14, "")
	write("dpm-solver++_10_s1.json", 20, "")
	write("ddpm_1000_s1.json", 11, "train")
	write("notes.json", 0, "") // Not a run: ignored.
	c, err := ReadSamplingCurve(dir)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range c.Runs {
		order = append(order, r.Method+"/"+itoa(r.NFE)+"/"+itoa(int(r.Seed)))
	}
	if got := strings.Join(order, " "); got != "ddpm/1000/1 dpm-solver++/10/1 dpm-solver++/20/1 dpm-solver++/20/2" {
		t.Errorf("runs in order %s", got)
	}
	if m, s, ok := c.Frechet("dpm-solver++", 20); !ok || math.Abs(m-13) > 1e-12 || math.Abs(s-1) > 1e-12 {
		t.Errorf("mean and spread %g, %g (%v); want 13 and 1", m, s, ok)
	}
	if _, _, ok := c.Frechet("heun", 20); ok {
		t.Error("a method without runs reported a distance")
	}
	if c.Baselines == nil || c.Baselines.TrainVsTest.Frechet != 7.5 || c.Baselines.HeldOut == nil {
		t.Errorf("baselines %+v", c.Baselines)
	}
	if png, err := c.Chart(); err != nil || len(png) == 0 {
		t.Errorf("chart: %v", err)
	}
	if tab := c.Table(); !strings.Contains(tab, "| held-out test digits |  |  | 4.90 |") || !strings.Contains(tab, "real training digits") || !strings.HasPrefix(tab, "Measured on the shipped MNIST model at step 5740.") || strings.Count(tab, "\n") != 2+2+4+3 {
		t.Errorf("table:\n%s", tab)
	}
	// A report of another model in the same folder is refused, by name.
	b, _ := json.Marshal(eval.Report{Checkpoint: "pretrained:mnist", Step: 9000, Quality: &eval.QualityReport{}})
	if err := os.WriteFile(filepath.Join(dir, "heun_19_s1.json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadSamplingCurve(dir); err == nil || !strings.Contains(err.Error(), "heun_19_s1.json measures pretrained:mnist at step 9000") {
		t.Errorf("two models in one curve: %v", err)
	}
	if _, err := ReadSamplingCurve(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no reports") {
		t.Errorf("empty folder: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
