package kernel

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/diffusion-go/ddpm/eval"
)

// SamplingRun is the sample quality of one sampler at one budget of network
// evaluations (NFE), as scripts/sampling.sh measures it.
type SamplingRun struct {
	Method string
	NFE    int
	Seed   int64
	Report eval.Report
}

// SamplingCurve is what scripts/sampling.sh wrote: runs sorted by method,
// then NFE, then seed.
type SamplingCurve struct {
	Dir       string
	Runs      []SamplingRun
	Baselines *eval.Baselines // Real digits and noise at the same N, when measured (a report with held-out test digits first).
	Model     string          // The checkpoint every run measured ("pretrained:mnist" for the shipped model).
	Step      int64           // Its training steps.
}

// ReadSamplingCurve reads the reports <method>_<nfe>_s<seed>.json of dir.
func ReadSamplingCurve(dir string) (*SamplingCurve, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*_*_s*.json"))
	if err != nil {
		return nil, err
	}
	c := &SamplingCurve{Dir: dir}
	for _, p := range paths {
		parts := strings.Split(strings.TrimSuffix(filepath.Base(p), ".json"), "_")
		if len(parts) != 3 {
			continue
		}
		nfe, err1 := strconv.Atoi(parts[1])
		seed, err2 := strconv.ParseInt(strings.TrimPrefix(parts[2], "s"), 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		r := SamplingRun{Method: parts[0], NFE: nfe, Seed: seed}
		if err := json.Unmarshal(b, &r.Report); err != nil {
			return nil, fmt.Errorf("%s: %w", p, err)
		}
		if r.Report.Quality == nil {
			return nil, fmt.Errorf("%s has no sample-quality report", p)
		}
		if len(c.Runs) == 0 {
			c.Model, c.Step = r.Report.Checkpoint, r.Report.Step
		} else if r.Report.Checkpoint != c.Model || r.Report.Step != c.Step {
			return nil, fmt.Errorf("%s measures %s at step %d but the reports before it measure %s at step %d: one curve must come from one model (remove the old reports and run scripts/sampling.sh)",
				p, r.Report.Checkpoint, r.Report.Step, c.Model, c.Step)
		}
		if bl := r.Report.Quality.Baselines; bl != nil && (c.Baselines == nil || c.Baselines.HeldOut == nil && bl.HeldOut != nil) {
			c.Baselines = r.Report.Quality.Baselines
		}
		c.Runs = append(c.Runs, r)
	}
	if len(c.Runs) == 0 {
		return nil, fmt.Errorf("no reports <method>_<nfe>_s<seed>.json in %s", dir)
	}
	slices.SortFunc(c.Runs, func(a, b SamplingRun) int {
		if a.Method != b.Method {
			return strings.Compare(a.Method, b.Method)
		}
		if a.NFE != b.NFE {
			return a.NFE - b.NFE
		}
		return int(a.Seed - b.Seed)
	})
	return c, nil
}

// Frechet returns the Fréchet distance of method at nfe averaged over its
// seeds, and the spread (half the range) of the seeds; ok is false when
// there is no such run.
func (c *SamplingCurve) Frechet(method string, nfe int) (mean, spread float64, ok bool) {
	lo, hi, n := math.Inf(1), math.Inf(-1), 0
	for _, r := range c.Runs {
		if r.Method == method && r.NFE == nfe {
			f := r.Report.Quality.Samples.Frechet
			mean += f
			lo, hi, n = min(lo, f), max(hi, f), n+1
		}
	}
	if n == 0 {
		return 0, 0, false
	}
	return mean / float64(n), (hi - lo) / 2, true
}

// Chart plots the Fréchet distance against NFE (both on log scales), one line
// per method (seed 1), with the real digits' distances: the held-out test
// digits (the floor) when measured, and the training digits.
func (c *SamplingCurve) Chart() ([]byte, error) {
	var series []Series
	var xmin, xmax float64 = math.Inf(1), 0
	for _, r := range c.Runs {
		if r.Seed != 1 {
			continue
		}
		if len(series) == 0 || series[len(series)-1].Name != r.Method {
			series = append(series, Series{Name: r.Method})
		}
		s := &series[len(series)-1]
		s.X, s.Y = append(s.X, float64(r.NFE)), append(s.Y, r.Report.Quality.Samples.Frechet)
		xmin, xmax = min(xmin, float64(r.NFE)), max(xmax, float64(r.NFE))
	}
	if b := c.Baselines; b != nil {
		if b.HeldOut != nil {
			f := b.HeldOut.Frechet
			series = append(series, Series{Name: "held-out test digits (floor)", X: []float64{xmin, xmax}, Y: []float64{f, f}})
		}
		f := b.TrainVsTest.Frechet
		series = append(series, Series{Name: "real training digits", X: []float64{xmin, xmax}, Y: []float64{f, f}})
	}
	n := 0
	if len(c.Runs) > 0 {
		n = c.Runs[0].Report.Quality.Samples.N
	}
	return Chart{Title: fmt.Sprintf("Sample quality against network evaluations (N = %d, seed 1)", n), XLabel: "network evaluations per image (log scale)",
		YLabel: "Fréchet distance, classifier features (log scale)", LogX: true, LogY: true, Points: true, Series: series}.PNG()
}

// Table is a markdown table of every run, with the baselines.
func (c *SamplingCurve) Table() string {
	row := func(name, nfe, seed string, q eval.Quality, secs string) []string {
		return []string{name, nfe, seed, fmt.Sprintf("%.2f", q.Frechet), fmt.Sprintf("%.3f", q.Precision), fmt.Sprintf("%.3f", q.Recall),
			fmt.Sprintf("%.3f", q.Density), fmt.Sprintf("%.3f", q.Coverage), fmt.Sprintf("%.2f", q.Labels.Score), secs}
	}
	var rows [][]string
	for _, r := range c.Runs {
		q := r.Report.Quality
		rows = append(rows, row(r.Method, strconv.Itoa(r.NFE), strconv.FormatInt(r.Seed, 10), q.Samples, fmt.Sprintf("%.0f", q.SampleSeconds)))
	}
	if b := c.Baselines; b != nil {
		for _, x := range b.Rows() {
			rows = append(rows, row(x.Name, "", "", x.Quality, ""))
		}
	}
	model := c.Model
	if model == "pretrained:mnist" {
		model = "the shipped MNIST model"
	}
	return fmt.Sprintf("Measured on %s at step %d.\n\n", model, c.Step) +
		MarkdownTable([]string{"sampler", "NFE", "seed", "Fréchet", "precision", "recall", "density", "coverage", "score", "sampling s"}, rows)
}

// BaselineRow is one real-data or noise row of a results table.
type BaselineRow struct {
	Name string
	Q    eval.Quality
}

// BaselineRows names the baselines of b for a table, with their number of
// images (eval.Baselines.Rows: the held-out test digits, the floor, when
// measured; the training digits; the noise).
func BaselineRows(b *eval.Baselines) []BaselineRow {
	var rows []BaselineRow
	for _, x := range b.Rows() {
		rows = append(rows, BaselineRow{fmt.Sprintf("%s (%d)", x.Name, x.Quality.N), x.Quality})
	}
	return rows
}
