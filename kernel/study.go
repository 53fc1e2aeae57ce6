package kernel

import (
	"bufio"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/diffusion-go/ddpm/eval"
	"gonum.org/v1/plot/vg"
)

// StudyRun is one model of the likelihood-versus-sample-quality study
// (scripts/study.sh) with its evaluation.
type StudyRun struct {
	Name, Loss, Variance string
	Report               eval.Report
	TrainSeconds         float64 // Wall time of its ddpm train command (0: not trained by the script).
	EvalSeconds          float64 // Wall time of its ddpm eval command.
	// Curve is the bound of its kept checkpoints against training steps
	// (curves/NAME-STEP.json), in steps' order; empty when not measured.
	Curve []CurvePoint
}

// CurvePoint is the bound of one checkpoint.
type CurvePoint struct {
	Step           int64
	BPD, StdErr    float64
	Decoder        float64 // L_0, the decoder's term of BPD (0: not in the report)
	Images, Strata int
}

// DDIMRun is the sample quality of one DDIM step count.
type DDIMRun struct {
	Steps       int
	Report      eval.Report
	EvalSeconds float64
}

// Study is what scripts/study.sh wrote to results/study.
type Study struct {
	Dir       string
	Steps     int // Training steps of every run.
	Runs      []StudyRun
	FullChain *eval.Report // The full-chain bound of one run, if measured.
	// Test10k is the likelihood-trained model's bound on all 10,000 test
	// digits (hybrid-test10k.json), if measured.
	Test10k *eval.Report
	DDIM    []DDIMRun
	// Losses are the training losses as logged, by objective: NAME.metrics.jsonl
	// for NAME "simple" (the shipped model's run) and the trained runs' names.
	Losses map[string][]Metric
}

// StudyRuns lists the study's rows in the paper's order: name, loss,
// variance (the names scripts/study.sh gives its reports; a report that
// records its configuration overrides the loss and variance given here).
var StudyRuns = [][3]string{
	{"simple-fixed-large", "simple", "fixed-large"},
	{"simple-fixed-small", "simple", "fixed-small"},
	{"vlb-fixed-large", "vlb", "fixed-large"},
	{"hybrid-learned", "hybrid", "learned-range"},
}

// StudyDDIMSteps are the DDIM step counts of the study.
var StudyDDIMSteps = []int{10, 20, 50, 100, 1000}

// ReadStudy reads the study's JSON reports and times from dir. Runs whose
// report is missing are left out; an empty study is an error that says how
// to produce it.
func ReadStudy(dir string) (*Study, error) {
	s := &Study{Dir: dir}
	times, steps, err := readTimes(filepath.Join(dir, "times.tsv"))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	s.Steps = steps
	for _, r := range StudyRuns {
		rep, err := readReport(filepath.Join(dir, r[0]+".json"))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		run := StudyRun{Name: r[0], Loss: r[1], Variance: r[2], Report: *rep,
			TrainSeconds: times["train/"+r[0]], EvalSeconds: times["eval/"+r[0]]}
		run.Loss, run.Variance = reportObjective(rep, run.Loss, run.Variance)
		if run.Curve, err = readCurve(filepath.Join(dir, "curves"), r[0], rep.Step); err != nil {
			return nil, err
		}
		s.Runs = append(s.Runs, run)
		stem := r[0]
		if run.Loss == "simple" {
			stem = "simple"
		}
		if _, ok := s.Losses[stem]; ok {
			continue
		}
		m, err := ReadMetrics(filepath.Join(dir, stem+".metrics.jsonl"))
		if err == nil {
			if s.Losses == nil {
				s.Losses = map[string][]Metric{}
			}
			s.Losses[stem] = m
		} else if !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
	}
	if rep, err := readReport(filepath.Join(dir, "hybrid-test10k.json")); err == nil {
		s.Test10k = rep
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if rep, err := readReport(filepath.Join(dir, "full-chain.json")); err == nil {
		s.FullChain = rep
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, n := range StudyDDIMSteps {
		rep, err := readReport(filepath.Join(dir, fmt.Sprintf("ddim%d.json", n)))
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		s.DDIM = append(s.DDIM, DDIMRun{Steps: n, Report: *rep, EvalSeconds: times[fmt.Sprintf("eval/ddim%d", n)]})
	}
	if len(s.Runs) == 0 {
		return nil, fmt.Errorf("no study results in %s: run scripts/study.sh (hours per model on 2 cores)", dir)
	}
	if s.Steps == 0 { // no training in times.tsv (the runs trained elsewhere, or in parts): the reports' step
		for _, r := range s.Runs {
			s.Steps = max(s.Steps, int(r.Report.Step))
		}
	}
	return s, nil
}

// reportObjective returns the loss and variance a report records (its
// training configuration, and the variance it was measured with), or the
// given ones for a report that records neither.
func reportObjective(rep *eval.Report, loss, variance string) (string, string) {
	var cfg struct {
		Loss     string `json:"loss"`
		Variance string `json:"variance"`
	}
	if len(rep.Config) > 0 && json.Unmarshal(rep.Config, &cfg) == nil {
		if cfg.Loss != "" {
			loss = cfg.Loss
		}
		if cfg.Variance != "" {
			variance = cfg.Variance
		}
	}
	if rep.Variance != "" {
		variance = rep.Variance
	}
	return loss, variance
}

// readCurve reads dir/NAME-STEP.json for every STEP up to last (the step of
// the report the curve belongs to: a run in progress has checkpoints beyond
// an older report's), in steps' order.
func readCurve(dir, name string, last int64) ([]CurvePoint, error) {
	files, err := filepath.Glob(filepath.Join(dir, name+"-*.json"))
	if err != nil {
		return nil, err
	}
	var out []CurvePoint
	for _, f := range files {
		step, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), name+"-"), ".json"), 10, 64)
		if err != nil || step > last {
			continue // Another run whose name starts with this one's, or a later checkpoint.
		}
		rep, err := readReport(f)
		if err != nil {
			return nil, err
		}
		if rep.BPD == nil {
			return nil, fmt.Errorf("%s: no bits/dim in the report", f)
		}
		out = append(out, CurvePoint{Step: step, BPD: rep.BPD.BitsPerDim, StdErr: rep.BPD.StdErr, Decoder: rep.BPD.Decoder, Images: rep.BPD.Images, Strata: rep.BPD.Strata})
	}
	slices.SortFunc(out, func(a, b CurvePoint) int { return cmp.Compare(a.Step, b.Step) })
	return out, nil
}

// CurveChart plots each trained run's bound against its training steps and,
// where the reports have it, the bound without its decoder term L_0 (the
// term of the single timestep t = 0, which moves on its own: docs/study.md).
func (s *Study) CurveChart() ([]byte, error) {
	c := Chart{Title: "Bits/dim of the kept checkpoints (EMA weights)", XLabel: "training step", YLabel: "bits/dim (variational bound)",
		Points: true, PlainX: true, LegendAbove: true, Height: 5 * vg.Inch, Width: 7 * vg.Inch}
	for _, r := range s.Runs {
		if len(r.Curve) == 0 {
			continue
		}
		var x, y, xr, yr []float64
		for _, p := range r.Curve {
			x, y = append(x, float64(p.Step)), append(y, p.BPD)
			if p.Decoder > 0 {
				xr, yr = append(xr, float64(p.Step)), append(yr, p.BPD-p.Decoder)
			}
		}
		name := "L_" + r.Loss + ", " + r.Variance
		if len(r.Curve) == 1 { // a model measured at its last step only (L_simple's rows)
			name += fmt.Sprintf(" (step %d)", r.Curve[0].Step)
		}
		c.Series = append(c.Series, Series{Name: name, X: x, Y: y})
		if len(xr) > 0 && len(r.Curve) > 1 {
			c.Series = append(c.Series, Series{Name: name + ": all but L_0", X: xr, Y: yr})
		}
	}
	if len(c.Series) == 0 {
		return nil, fmt.Errorf("no bits/dim curves in %s/curves", s.Dir)
	}
	return c.PNG()
}

// LossChart plots each objective's logged training loss, as means of
// window consecutive logged values, relative to its mean over the last
// window: so the objectives' different units share one axis, and a flat
// line at 1 is a converged loss.
func (s *Study) LossChart(window int) ([]byte, error) {
	c := Chart{Title: fmt.Sprintf("Training loss over its final value (means of %d logged steps)", window), XLabel: "training step", YLabel: "loss / final loss", PlainX: true, LegendAbove: true}
	names := slices.Sorted(maps.Keys(s.Losses))
	for _, name := range names {
		m := s.Losses[name]
		if len(m) < window {
			continue
		}
		losses := make([]float64, len(m))
		for i, p := range m {
			losses[i] = p.Loss
		}
		y := windowMeans(losses, window)
		x := make([]float64, len(y))
		for k := range x {
			x[k] = float64(m[(k+1)*window-1].Step)
		}
		last := y[len(y)-1]
		for i := range y {
			y[i] /= last
		}
		c.Series = append(c.Series, Series{Name: name, X: x, Y: y})
	}
	if len(c.Series) == 0 {
		return nil, fmt.Errorf("no training losses in %s", s.Dir)
	}
	return c.PNG()
}

func readReport(path string) (*eval.Report, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r eval.Report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// readTimes reads the "name<TAB>seconds<TAB>command" lines of times.tsv
// (the last line of a name wins) and the -steps of the training commands.
func readTimes(path string) (map[string]float64, int, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	defer f.Close()
	out := map[string]float64{}
	steps := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.SplitN(sc.Text(), "\t", 3)
		if len(fields) < 2 {
			continue
		}
		if v, err := strconv.ParseFloat(fields[1], 64); err == nil {
			out[fields[0]] = v
		}
		if len(fields) == 3 && strings.HasPrefix(fields[0], "train/") {
			args := strings.Fields(fields[2])
			for i, a := range args {
				if a == "-steps" && i+1 < len(args) {
					steps, _ = strconv.Atoi(args[i+1])
				}
			}
		}
	}
	return out, steps, sc.Err()
}

func minutes(sec float64) string {
	if sec <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f min", sec/60)
}

// Table is the study as a Markdown table: one row per model, with its
// bound, its sample quality and the time its commands took (the commands
// are in scripts/study.sh and docs/study.md).
func (s *Study) Table() string {
	header := []string{"training objective", "reverse variance", "bits/dim (bound)", "of which L_0", "Frechet distance", "precision", "recall", "density", "coverage", "H(y\\|x) nats", "score", "train", "eval"}
	var rows [][]string
	f2 := func(v float64) string { return fmt.Sprintf("%.2f", v) }
	f3 := func(v float64) string { return fmt.Sprintf("%.3f", v) }
	dc := func(q eval.Quality) (string, string) { // Reports older than density and coverage have neither.
		if q.Density == 0 && q.Coverage == 0 {
			return "-", "-"
		}
		return f3(q.Density), f3(q.Coverage)
	}
	for _, r := range s.Runs {
		row := []string{"L_" + r.Loss, r.Variance, "-", "-", "-", "-", "-", "-", "-", "-", "-", minutes(r.TrainSeconds), minutes(r.EvalSeconds)}
		if b := r.Report.BPD; b != nil {
			row[2] = fmt.Sprintf("%.3f ± %.3f", b.BitsPerDim, b.StdErr)
			if b.Decoder > 0 { // reports older than the estimate's decoder term have none
				row[3] = f3(b.Decoder)
			}
		}
		if q := r.Report.Quality; q != nil {
			x := q.Samples
			d, c := dc(x)
			copy(row[4:11], []string{f2(x.Frechet), f2(x.Precision), f2(x.Recall), d, c, f3(x.Labels.Entropy), f2(x.Labels.Score)})
		}
		rows = append(rows, row)
	}
	if b := s.Baselines(); b != nil {
		for _, x := range BaselineRows(b) {
			d, c := dc(x.Q)
			rows = append(rows, []string{x.Name, "", "", "", f2(x.Q.Frechet), f2(x.Q.Precision), f2(x.Q.Recall), d, c,
				f3(x.Q.Labels.Entropy), f2(x.Q.Labels.Score), "", ""})
		}
	}
	return MarkdownTable(header, rows)
}

func (r StudyRun) samples() int {
	if r.Report.Quality != nil {
		return r.Report.Quality.Samples.N
	}
	return 0
}

// Baselines returns the baselines measured with the first run, if any.
func (s *Study) Baselines() *eval.Baselines {
	for _, r := range s.Runs {
		if r.Report.Quality != nil && r.Report.Quality.Baselines != nil {
			return r.Report.Quality.Baselines
		}
	}
	return nil
}

// DDIMTable is sample quality against the number of DDIM steps.
func (s *Study) DDIMTable() string {
	header := []string{"sampler", "steps", "Frechet distance", "precision", "recall", "H(y\\|x) nats", "score", "sampling time", "reproduce"}
	var rows [][]string
	add := func(name string, steps int, rep eval.Report, cmd string) {
		q := rep.Quality
		if q == nil {
			return
		}
		rows = append(rows, []string{name, strconv.Itoa(steps), fmt.Sprintf("%.2f", q.Samples.Frechet), fmt.Sprintf("%.2f", q.Samples.Precision),
			fmt.Sprintf("%.2f", q.Samples.Recall), fmt.Sprintf("%.3f", q.Samples.Labels.Entropy), fmt.Sprintf("%.2f", q.Samples.Labels.Score),
			fmt.Sprintf("%.0f s", q.SampleSeconds), cmd})
	}
	for _, d := range s.DDIM {
		add("DDIM, eta 0", d.Steps, d.Report, fmt.Sprintf("`ddpm eval -dir D -bpd=false -samples %d -method ddim -steps ddim%d`", d.Report.Quality.Samples.N, d.Steps))
	}
	if len(s.Runs) > 0 && s.Runs[0].Report.Quality != nil {
		add("ancestral (DDPM)", 1000, s.Runs[0].Report, "as in the first table")
	}
	return MarkdownTable(header, rows)
}

// TradeoffChart plots each model's bits/dim against its Frechet distance.
func (s *Study) TradeoffChart() ([]byte, error) {
	c := Chart{Title: "Likelihood against sample quality (lower is better on both)", XLabel: "bits/dim (variational bound)",
		YLabel: "Frechet distance (classifier features, log scale)", Scatter: true, LogY: true}
	for _, r := range s.Runs {
		if r.Report.BPD == nil || r.Report.Quality == nil {
			continue
		}
		c.Series = append(c.Series, Series{Name: "L_" + r.Loss + ", " + r.Variance,
			X: []float64{r.Report.BPD.BitsPerDim}, Y: []float64{r.Report.Quality.Samples.Frechet}})
	}
	return c.PNG()
}

// DDIMChart plots the Frechet distance against the number of DDIM steps.
func (s *Study) DDIMChart() ([]byte, error) {
	var x, y []float64
	for _, d := range s.DDIM {
		if d.Report.Quality != nil {
			x = append(x, float64(d.Steps))
			y = append(y, d.Report.Quality.Samples.Frechet)
		}
	}
	c := Chart{Title: "DDIM (eta 0): sample quality against steps", XLabel: "steps (log scale)", YLabel: "Frechet distance",
		LogX: true, Points: true, Series: []Series{{Name: "DDIM", X: x, Y: y}}}
	if len(s.Runs) > 0 && s.Runs[0].Report.Quality != nil {
		c.Series = append(c.Series, Series{Name: "ancestral, 1000 steps", X: []float64{1000}, Y: []float64{s.Runs[0].Report.Quality.Samples.Frechet}})
	}
	return c.PNG()
}
