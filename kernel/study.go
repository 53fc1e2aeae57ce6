package kernel

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/diffusion-go/ddpm/eval"
)

// StudyRun is one trained model of the likelihood-versus-sample-quality
// study (scripts/study.sh) with its evaluation.
type StudyRun struct {
	Name, Loss, Variance string
	Report               eval.Report
	TrainSeconds         float64 // Wall time of its ddpm train command.
	EvalSeconds          float64 // Wall time of its ddpm eval command.
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
	FullChain *eval.Report // The full-chain bound of the first run, if measured.
	DDIM      []DDIMRun
}

// StudyRuns lists the study's models: name, loss, variance (as scripts/study.sh).
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
		s.Runs = append(s.Runs, StudyRun{Name: r[0], Loss: r[1], Variance: r[2], Report: *rep,
			TrainSeconds: times["train/"+r[0]], EvalSeconds: times["eval/"+r[0]]})
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
		return nil, fmt.Errorf("no study results in %s: run scripts/study.sh (about 2 hours on 2 cores)", dir)
	}
	return s, nil
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

// Table is the study as a Markdown table: one row per model, with the
// commands that reproduce it and the time they took.
func (s *Study) Table() string {
	header := []string{"training objective", "reverse variance", "bits/dim (bound)", "Frechet distance", "precision", "recall", "H(y\\|x) nats", "score", "train", "eval", "reproduce"}
	var rows [][]string
	for _, r := range s.Runs {
		row := []string{"L_" + r.Loss, r.Variance, "-", "-", "-", "-", "-", "-", minutes(r.TrainSeconds), minutes(r.EvalSeconds),
			fmt.Sprintf("`ddpm train -preset mnist -steps %d -loss %s -variance %s -dir D` then `ddpm eval -dir D -n 512 -strata 20 -samples %d`",
				s.Steps, r.Loss, r.Variance, r.samples())}
		if b := r.Report.BPD; b != nil {
			row[2] = fmt.Sprintf("%.3f ± %.3f", b.BitsPerDim, b.StdErr)
		}
		if q := r.Report.Quality; q != nil {
			row[3], row[4], row[5] = fmt.Sprintf("%.2f", q.Samples.Frechet), fmt.Sprintf("%.2f", q.Samples.Precision), fmt.Sprintf("%.2f", q.Samples.Recall)
			row[6], row[7] = fmt.Sprintf("%.3f", q.Samples.Labels.Entropy), fmt.Sprintf("%.2f", q.Samples.Labels.Score)
		}
		rows = append(rows, row)
	}
	if b := s.Baselines(); b != nil {
		n := b.TrainVsTest.N
		for _, x := range []struct {
			name string
			q    eval.Quality
		}{{fmt.Sprintf("real training digits (%d)", n), b.TrainVsTest}, {fmt.Sprintf("uniform noise (%d images)", n), b.Noise}} {
			rows = append(rows, []string{x.name, "", "", fmt.Sprintf("%.2f", x.q.Frechet), fmt.Sprintf("%.2f", x.q.Precision),
				fmt.Sprintf("%.2f", x.q.Recall), fmt.Sprintf("%.3f", x.q.Labels.Entropy), fmt.Sprintf("%.2f", x.q.Labels.Score), "", "", "`-baselines`"})
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
		YLabel: "Frechet distance (classifier features)", Scatter: true}
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
