package kernel

import (
	"bytes"
	"image/png"
	"math"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm"
)

func TestChartPNG(t *testing.T) {
	c := Chart{Title: "t", LogY: true, Series: []Series{{Name: "a", X: []float64{0, 1, 2}, Y: []float64{1, 0.1, 0}}}}
	b, err := c.PNG()
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	if img.Bounds().Dx() != 576 { // 6 inches at 96 dpi.
		t.Errorf("chart width %d px, want 576", img.Bounds().Dx())
	}
	c.Series[0].Y = c.Series[0].Y[:2]
	if _, err := c.PNG(); err == nil || !strings.Contains(err.Error(), "3 x and 2 y") {
		t.Errorf("mismatched series: err=%v", err)
	}
}

func TestRateDistortion(t *testing.T) {
	// Three timesteps, one example: L = (2, 0.5, 0.25), x0 MSE = (0, 0.01, 1).
	b := &ddpm.BPD{VB: [][]float64{{2}, {0.5}, {0.25}}, X0MSE: [][]float64{{0}, {0.01}, {1}}}
	rate, dist, err := RateDistortion(b)
	if err != nil {
		t.Fatal(err)
	}
	// Rate accumulates from T-1 down: 2.75, 0.75, 0.25; distortion is sqrt(MSE) * 127.5.
	for i, want := range []float64{2.75, 0.75, 0.25} {
		if rate[i] != want {
			t.Errorf("rate[%d] = %g, want %g", i, rate[i], want)
		}
	}
	if dist[0] != 0 || dist[1] != 12.75 || dist[2] != 127.5 {
		t.Errorf("distortion %v, want [0 12.75 127.5]", dist)
	}
	if _, _, err := RateDistortion(&ddpm.BPD{}); err == nil {
		t.Error("no per-t terms: no error")
	}
}

// TestLabeledGrid: the grid keeps its size and gains a caption strip above
// (one text line) and a label column at the left, where the text is drawn in
// black; more labels than columns or rows is an error.
func TestLabeledGrid(t *testing.T) {
	px := make([]float32, 2*3*4*4)
	for i := range px {
		px[i] = 1 // White images, so that only text is dark.
	}
	b, err := LabeledGrid(px, 2, 3, 4, 4, 1, 2, []string{"t=999", "t=500", "t=0"}, []string{"x_t", "x0"})
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	plain, _ := Grid(px, 6, 4, 4, 1, 3, 2)
	left, top := img.Bounds().Dx()-plain.Bounds().Dx(), img.Bounds().Dy()-plain.Bounds().Dy()
	if left < 3*7 || top < 13 {
		t.Fatalf("label column %d and caption strip %d pixels: too small for the text", left, top)
	}
	dark := func(x0, y0, x1, y1 int) int {
		n := 0
		for y := y0; y < y1; y++ {
			for x := x0; x < x1; x++ {
				if r, _, _, _ := img.At(x, y).RGBA(); r < 0x4000 {
					n++
				}
			}
		}
		return n
	}
	if dark(left, 0, img.Bounds().Dx(), top) == 0 || dark(0, top, left, img.Bounds().Dy()) == 0 {
		t.Error("no text drawn in the caption strip or the label column")
	}
	if n := dark(left, top, img.Bounds().Dx(), img.Bounds().Dy()); n != 0 {
		t.Errorf("%d dark pixels over the white images", n)
	}
	if _, err := LabeledGrid(px, 2, 3, 4, 4, 1, 1, []string{"a", "b", "c", "d"}, nil); err == nil {
		t.Error("4 column labels for 3 columns: no error")
	}
}

func TestMoments(t *testing.T) {
	m, v := Moments([]float32{1, 2, 3, 4})
	if m != 2.5 || v != 1.25 {
		t.Errorf("Moments(1..4) = %v, %v; want 2.5, 1.25 (population variance)", m, v)
	}
	if got := Steps(3); len(got) != 3 || got[0] != 1 || got[2] != 3 {
		t.Errorf("Steps(3) = %v, want [1 2 3]", got)
	}
}

// A log axis labels its powers of ten, and its 2s and 5s too when it spans
// too little for two powers of ten to show.
func TestPowerTicks(t *testing.T) {
	labels := func(min, max float64) string {
		var out []string
		for _, tk := range (powerTicks{}).Ticks(min, max) {
			if tk.Label != "" && tk.Value >= min && tk.Value <= max {
				out = append(out, tk.Label)
			}
		}
		return strings.Join(out, " ")
	}
	for _, c := range []struct {
		min, max float64
		want     string
	}{
		{1e-5, 1e4, "1e-05 0.0001 0.001 0.01 0.1 1 10 100 1000 10000"},
		{0.5, 200, "1 10 100"},
		{4, 70, "5 10 20 50"},
		{0.9, 1.8, "1"},
		{0.015, 0.6, "0.02 0.05 0.1 0.2 0.5"},
	} {
		if got := labels(c.min, c.max); got != c.want {
			t.Errorf("ticks on [%g, %g]: %q, want %q", c.min, c.max, got, c.want)
		}
	}
}

// LegendAbove leaves the top of the y axis free for the legend: 6% of the
// axis per series and one more, on a log axis in log units.
func TestChartLegendAbove(t *testing.T) {
	levels := []Series{{Name: "a", X: []float64{1, 10}, Y: []float64{1, 1}}, {Name: "b", X: []float64{1, 10}, Y: []float64{100, 100}}}
	for _, logY := range []bool{false, true} {
		p, err := Chart{LogY: logY, LegendAbove: true, Series: levels}.plot()
		if err != nil {
			t.Fatal(err)
		}
		free := (p.Y.Max - 100) / (p.Y.Max - p.Y.Min)
		if logY {
			free = math.Log(p.Y.Max/100) / math.Log(p.Y.Max/p.Y.Min)
		}
		if math.Abs(free-0.18) > 1e-9 {
			t.Errorf("log y %v: y axis [%g, %g], %.3f of it above the data, want 0.18", logY, p.Y.Min, p.Y.Max, free)
		}
	}
}
