package kernel

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"strings"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/checkpoint"
	"github.com/diffusion-go/ddpm/eval"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/janpfeifer/gonb/gonbui"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// ScheduleQuantity is a per-timestep quantity of a schedule.
type ScheduleQuantity int

const (
	Beta     ScheduleQuantity = iota // beta_t
	AlphaBar                         // abar_t, the signal kept
	SNR                              // abar_t / (1 - abar_t), log scale
)

// ScheduleChart plots one quantity of the named schedules with T steps.
func ScheduleChart(q ScheduleQuantity, T int, kinds ...ddpm.BetaSchedule) ([]byte, error) {
	c := Chart{XLabel: "t"}
	switch q {
	case Beta:
		c.Title, c.YLabel, c.LogY = fmt.Sprintf("Noise added per step: beta_t (T = %d)", T), "beta_t (log scale)", true
	case AlphaBar:
		c.Title, c.YLabel = fmt.Sprintf("Signal kept: abar_t (T = %d)", T), "abar_t"
	case SNR:
		c.Title, c.YLabel, c.LogY = "Signal-to-noise ratio abar_t / (1 - abar_t)", "SNR (log scale)", true
	default:
		return nil, fmt.Errorf("unknown schedule quantity %d", q)
	}
	for _, kind := range kinds {
		s, err := ddpm.NewSchedule(kind, T)
		if err != nil {
			return nil, err
		}
		x, y := make([]float64, T), make([]float64, T)
		for t := range T {
			x[t] = float64(t)
			switch q {
			case Beta:
				y[t] = s.Betas[t]
			case AlphaBar:
				y[t] = s.AlphasCumprod[t]
			case SNR:
				y[t] = s.AlphasCumprod[t] / (1 - s.AlphasCumprod[t])
			}
		}
		c.Series = append(c.Series, Series{Name: kind.String(), X: x, Y: y})
	}
	return c.PNG()
}

// Histogram plots a normalised histogram of values, with the standard normal
// density drawn over it when withNormal is set.
func Histogram(values []float64, bins int, title string, withNormal bool) ([]byte, error) {
	if len(values) == 0 || bins < 1 {
		return nil, fmt.Errorf("histogram %q: need values and at least one bin", title)
	}
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, "value", "density"
	h, err := plotter.NewHist(plotter.Values(values), bins)
	if err != nil {
		return nil, err
	}
	h.Normalize(1)
	p.Add(h)
	if withNormal {
		f := plotter.NewFunction(func(x float64) float64 { return math.Exp(-x*x/2) / math.Sqrt(2*math.Pi) })
		f.Width = vg.Points(2)
		p.Add(f)
		p.Legend.Add("N(0, 1)", f)
	}
	return plotPNG(p, 6*vg.Inch, 4*vg.Inch)
}

// ImagesPNG lays out images (flat [n, h, w, c] in [-1, 1]) in a grid and encodes it.
func ImagesPNG(pixels []float32, n, h, w, c, cols, zoom int) ([]byte, error) {
	img, err := Grid(pixels, n, h, w, c, cols, zoom)
	if err != nil {
		return nil, err
	}
	return PNG(img)
}

// MarkdownTable renders a table for gonbui.DisplayMarkdown.
func MarkdownTable(header []string, rows [][]string) string {
	var b strings.Builder
	b.WriteString("| " + strings.Join(header, " | ") + " |\n|")
	for range header {
		b.WriteString(" --- |")
	}
	b.WriteString("\n")
	for _, r := range rows {
		b.WriteString("| " + strings.Join(r, " | ") + " |\n")
	}
	return b.String()
}

// Metric is one line of a training run's metrics.jsonl.
type Metric struct {
	Step     int64   `json:"step"`
	Loss     float64 `json:"loss"`
	GradNorm float64 `json:"grad_norm"`
	LR       float64 `json:"lr"`
}

// ReadMetrics reads a metrics.jsonl file written by ddpm train.
func ReadMetrics(path string) ([]Metric, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []Metric
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		var m Metric
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		out = append(out, m)
	}
	return out, sc.Err()
}

// LossCurve plots the loss of a training run (log scale).
func LossCurve(metrics []Metric, title string) ([]byte, error) {
	x, y := make([]float64, len(metrics)), make([]float64, len(metrics))
	for i, m := range metrics {
		x[i], y[i] = float64(m.Step), m.Loss
	}
	return Chart{Title: title, XLabel: "step", YLabel: "loss (log scale)", LogY: true,
		Series: []Series{{Name: "loss", X: x, Y: y}}}.PNG()
}

// LossPlot charts per-step losses as means over consecutive windows of
// window steps, with a horizontal line at floor when it is
// positive (the loss of the best possible model).
func LossPlot(losses []float64, window int, floor float64) ([]byte, error) {
	if window < 1 || len(losses) < window {
		return nil, fmt.Errorf("loss plot: %d losses for windows of %d", len(losses), window)
	}
	y := windowMeans(losses, window)
	x := make([]float64, len(y))
	for k := range x {
		x[k] = float64((k + 1) * window)
	}
	c := Chart{Title: fmt.Sprintf("training loss (mean of %d steps)", window), XLabel: "step", YLabel: "loss",
		Series: []Series{{Name: "loss", X: x, Y: y}}}
	if floor > 0 {
		c.Series = append(c.Series, Series{Name: "floor (exact denoiser)", X: []float64{0, x[len(x)-1]}, Y: []float64{floor, floor}})
	}
	return c.PNG()
}

// windowMeans returns the means of consecutive windows of v (a last,
// incomplete window is left out).
func windowMeans(v []float64, window int) []float64 {
	var out []float64
	for i := 0; i+window <= len(v); i += window {
		sum := 0.0
		for _, x := range v[i : i+window] {
			sum += x
		}
		out = append(out, sum/float64(window))
	}
	return out
}

// Floats copies a float32 tensor's values.
func Floats(t *tensors.Tensor) []float32 {
	var out []float32
	_ = t.ConstFlatData(func(f any) { out = append(out, f.([]float32)...) })
	return out
}

// FindCheckpoint returns the newest checkpoint of the first run folder that
// has one ("" when none does).
func FindCheckpoint(dirs ...string) string {
	for _, d := range dirs {
		if paths, err := checkpoint.List(d); err == nil && len(paths) > 0 {
			return paths[len(paths)-1]
		}
	}
	return ""
}

// RateDistortion reads the bound of a full chain as a code (the paper's
// Figure 5): rate[t] is the bits/dim spent from T down to t, sum over s >= t
// of L_s; distortion[t] the root mean squared error of the reconstruction of
// x_0 from x_t, on the [0, 255] scale.
func RateDistortion(b *ddpm.BPD) (rate, distortion []float64, err error) {
	if b == nil || b.VB == nil {
		return nil, nil, fmt.Errorf("rate-distortion needs the full chain's per-timestep terms")
	}
	vb, x0mse := ddpm.MeanTerm(b.VB), ddpm.MeanTerm(b.X0MSE)
	T := len(vb)
	rate, distortion = make([]float64, T), make([]float64, T)
	cum := 0.0
	for t := T - 1; t >= 0; t-- {
		cum += vb[t]
		rate[t] = cum
		distortion[t] = math.Sqrt(x0mse[t]) * 127.5 // [-1, 1] -> [0, 255]
	}
	return rate, distortion, nil
}

// RateDistortionCharts returns three PNG charts of a full chain: rate against
// t, distortion against t, and distortion against rate.
func RateDistortionCharts(b *ddpm.BPD, name string) ([][]byte, error) {
	rate, dist, err := RateDistortion(b)
	if err != nil {
		return nil, err
	}
	ts := make([]float64, len(rate))
	for t := range ts {
		ts[t] = float64(t)
	}
	var out [][]byte
	for _, c := range []Chart{
		{Title: "Rate: bits/dim spent from T down to t", XLabel: "t", YLabel: "bits/dim", Series: []Series{{Name: name, X: ts, Y: rate}}},
		{Title: "Distortion: RMSE of the reconstruction from x_t (0-255 scale)", XLabel: "t", YLabel: "RMSE", Series: []Series{{Name: name, X: ts, Y: dist}}},
		{Title: "Rate-distortion", XLabel: "rate (bits/dim)", YLabel: "distortion (RMSE, 0-255)", Series: []Series{{Name: name, X: rate, Y: dist}}},
	} {
		png, err := c.PNG()
		if err != nil {
			return nil, err
		}
		out = append(out, png)
	}
	return out, nil
}

// Check stops a notebook cell with the message when a property that its
// prose states does not hold (the report runner then fails), and shows the
// message as confirmed when it does: the way a notebook asserts what it shows.
// It first waits until GoNB has shown everything the cell displayed (see
// gonbui.Sync), so that a check at the end of a cell also keeps its figures.
func Check(ok bool, format string, args ...any) {
	gonbui.Sync()
	msg := fmt.Sprintf(format, args...)
	if !ok {
		panic("check failed: " + msg)
	}
	fmt.Println("✓", msg)
}

// QualityRow is a row of a sample-quality table: the name, a bits/dim
// column (may be empty), then the Fréchet distance, precision, recall and
// the classifier score of q.
func QualityRow(name, bpd string, q eval.Quality) []string {
	return []string{name, bpd, fmt.Sprintf("%.2f", q.Frechet), fmt.Sprintf("%.2f", q.Precision), fmt.Sprintf("%.2f", q.Recall), fmt.Sprintf("%.2f", q.Labels.Score)}
}

// Steps returns 1, 2, ..., n as the x values of a per-timestep chart (on a
// log axis, where t = 0 cannot be drawn, the term L_t sits at t + 1).
func Steps(n int) []float64 {
	ts := make([]float64, n)
	for t := range ts {
		ts[t] = float64(t + 1)
	}
	return ts
}

// Moments returns the mean and the population variance (divided by n) of xs.
func Moments[F float32 | float64](xs []F) (mean, variance float64) {
	for _, x := range xs {
		mean += float64(x)
	}
	mean /= float64(len(xs))
	for _, x := range xs {
		variance += (float64(x) - mean) * (float64(x) - mean)
	}
	return mean, variance / float64(len(xs))
}

// ToFloat64 converts xs to float64 (for charts and statistics).
func ToFloat64(xs []float32) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = float64(x)
	}
	return out
}
