package kernel

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/diffusion-go/ddpm/eval"
	"github.com/diffusion-go/ddpm/train"
)

// Recipe is one run of the recipe A/B (scripts/recipes.sh): the mnist preset
// with one change, trained with the same steps and seed as the others, and
// its evaluation.
type Recipe struct {
	Name   string
	Config train.Config // From the report: what was trained.
	Report eval.Report
	// StepSeconds is the median wall time of the logged training steps.
	StepSeconds float64
}

// TrainGFLOP is the work of one training step (forward and backward of the
// U-Net on a batch; unet.Config.TrainFLOPs), in GFLOP.
func (r Recipe) TrainGFLOP() float64 {
	return float64(r.Config.Model.TrainFLOPs(r.Config.BatchSize)) / 1e9
}

// ReadRecipes reads the reports (NAME.json) and training metrics
// (NAME.metrics.jsonl) that scripts/recipes.sh wrote to dir, the base run
// first and the others in the order the script ran them (times.tsv).
func ReadRecipes(dir string) ([]Recipe, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("no reports in %s: run scripts/recipes.sh", dir)
	}
	order := map[string]int{}
	if times, err := os.ReadFile(filepath.Join(dir, "times.tsv")); err == nil {
		for _, line := range strings.Split(string(times), "\n") {
			if name, ok := strings.CutPrefix(strings.SplitN(line, "\t", 2)[0], "train/"); ok {
				if _, seen := order[name]; !seen {
					order[name] = len(order)
				}
			}
		}
	}
	var rs []Recipe
	for _, path := range names {
		name := strings.TrimSuffix(filepath.Base(path), ".json")
		rep, err := readReport(path)
		if err != nil {
			return nil, err
		}
		r := Recipe{Name: name, Report: *rep}
		if len(rep.Config) == 0 {
			return nil, fmt.Errorf("%s: the report has no training configuration (written by an older ddpm eval): evaluate the run again", path)
		}
		if err := json.Unmarshal(rep.Config, &r.Config); err != nil {
			return nil, fmt.Errorf("%s: configuration: %w", path, err)
		}
		if r.StepSeconds, err = readStepSeconds(filepath.Join(dir, name+".metrics.jsonl")); err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, err
		}
		rs = append(rs, r)
	}
	rank := func(r Recipe) int {
		if r.Name == "base" {
			return -1
		}
		if i, ok := order[r.Name]; ok {
			return i
		}
		return len(order)
	}
	sort.SliceStable(rs, func(i, j int) bool { return rank(rs[i]) < rank(rs[j]) })
	return rs, nil
}

// readStepSeconds returns the median wall time of the steps logged in a
// run's metrics.jsonl (0 when none are).
func readStepSeconds(path string) (float64, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	var secs []float64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m train.StepStats
		if json.Unmarshal(sc.Bytes(), &m) != nil || m.Step == 0 {
			continue
		}
		secs = append(secs, m.Seconds)
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if len(secs) == 0 {
		return 0, nil
	}
	slices.Sort(secs)
	return secs[len(secs)/2], nil
}

// RecipeChange describes how a run's configuration differs from base's, as
// the ddpm train flags that make the difference ("preset" when none).
func RecipeChange(base, r train.Config) string {
	var ch []string
	add := func(differs bool, flag string, v any) {
		if differs {
			ch = append(ch, fmt.Sprintf("-%s %v", flag, v))
		}
	}
	add(r.Seed != base.Seed, "seed", r.Seed)
	add(r.Prediction != base.Prediction, "prediction", r.Prediction)
	add(r.Schedule != base.Schedule, "schedule", r.Schedule)
	add(r.Loss != base.Loss, "loss", r.Loss)
	add(r.Variance != base.Variance, "variance", r.Variance)
	add(r.Timesteps != base.Timesteps, "timesteps", r.Timesteps)
	add(r.MinSNRGamma != base.MinSNRGamma, "min-snr", r.MinSNRGamma)
	add(r.LearningRate != base.LearningRate, "lr", r.LearningRate)
	add(r.BatchSize != base.BatchSize, "batch", r.BatchSize)
	add(r.EMADecay != base.EMADecay, "ema", r.EMADecay)
	add(r.Model.Channels != base.Model.Channels, "channels", r.Model.Channels)
	add(r.Steps != base.Steps, "steps", r.Steps)
	add(r.Warmup != base.Warmup, "warmup", r.Warmup)
	add(r.GradClip != base.GradClip, "grad-clip", r.GradClip)
	add(r.Precision != base.Precision, "precision", r.Precision)
	if len(ch) == 0 {
		return "preset"
	}
	return strings.Join(ch, " ")
}

// RecipeTable is the A/B as a Markdown table: each run's change from base,
// its bits/dim (with the difference from base in standard errors of the
// difference), its sample quality and its cost per step; the
// real-digit and noise baselines close it. The runs must have the same
// evaluation settings (sample count, sampler) for the rows to compare; rows
// that do not match base's are refused.
func RecipeTable(rs []Recipe) (string, error) {
	if len(rs) == 0 || rs[0].Name != "base" {
		return "", errors.New("the recipe table needs the base run")
	}
	base := rs[0]
	bq, bb := base.Report.Quality, base.Report.BPD
	if bq == nil || bb == nil {
		return "", errors.New("the base run's report lacks bits/dim or sample quality")
	}
	header := []string{"run", "change from the mnist preset", "bits/dim", "Δ bits/dim (σ)", "Fréchet", "recall", "coverage", "density", "score", "GFLOP/step", "s/step"}
	var rows [][]string
	for _, r := range rs {
		q, b := r.Report.Quality, r.Report.BPD
		if q == nil || b == nil {
			return "", fmt.Errorf("run %s: the report lacks bits/dim or sample quality", r.Name)
		}
		if q.Samples.N != bq.Samples.N || q.Sampler != bq.Sampler || b.Images != bb.Images || b.Strata != bb.Strata {
			return "", fmt.Errorf("run %s was evaluated differently from base (%d samples of %s, bound on %d images; base: %d of %s, %d): its row would not compare",
				r.Name, q.Samples.N, q.Sampler, b.Images, bq.Samples.N, bq.Sampler, bb.Images)
		}
		delta := "-"
		if r.Name != "base" {
			se := math.Hypot(b.StdErr, bb.StdErr)
			delta = fmt.Sprintf("%+.3f (%+.1f)", b.BitsPerDim-bb.BitsPerDim, (b.BitsPerDim-bb.BitsPerDim)/se)
		}
		rows = append(rows, []string{r.Name, "`" + RecipeChange(base.Config, r.Config) + "`",
			fmt.Sprintf("%.3f ± %.3f", b.BitsPerDim, b.StdErr), delta,
			fmt.Sprintf("%.1f", q.Samples.Frechet), fmt.Sprintf("%.3f", q.Samples.Recall), fmt.Sprintf("%.3f", q.Samples.Coverage),
			fmt.Sprintf("%.3f", q.Samples.Density), fmt.Sprintf("%.2f", q.Samples.Labels.Score),
			fmt.Sprintf("%.1f", r.TrainGFLOP()), stepTime(r.StepSeconds)})
	}
	if bl := bq.Baselines; bl != nil {
		for _, x := range BaselineRows(bl) {
			rows = append(rows, []string{x.Name, "", "", "", fmt.Sprintf("%.1f", x.Q.Frechet), fmt.Sprintf("%.3f", x.Q.Recall),
				fmt.Sprintf("%.3f", x.Q.Coverage), fmt.Sprintf("%.3f", x.Q.Density), fmt.Sprintf("%.2f", x.Q.Labels.Score), "", ""})
		}
	}
	return MarkdownTable(header, rows), nil
}

func stepTime(s float64) string {
	if s <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", s)
}
