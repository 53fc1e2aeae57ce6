// Package kernel holds the notebook side of the project: display helpers
// that turn tensors and series into PNG images (for gonbui, HTML reports and
// the figures folder). The ddpm packages never import it.
package kernel

import (
	"bytes"
	"fmt"
	"image"
	"image/draw"
	"math"

	"github.com/diffusion-go/ddpm/imagefile"
	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Grid lays out n images of h x w x c (values in [-1, 1], flat row-major
// [n, h, w, c]) in a grid with cols columns, each image scaled up by zoom and
// separated by a 2-pixel white border (imagefile.Grid).
func Grid(pixels []float32, n, h, w, c, cols, zoom int) (*image.RGBA, error) {
	return imagefile.Grid(pixels, n, h, w, c, cols, zoom)
}

// PNG encodes an image.
func PNG(img image.Image) ([]byte, error) { return imagefile.PNG(img) }

// Series is one named line of a chart.
type Series struct {
	Name string
	X, Y []float64
}

// Chart describes a line chart.
type Chart struct {
	Title, XLabel, YLabel string
	LogY                  bool
	LogX                  bool // Logarithmic x axis (positive x only).
	Points                bool // Mark the points on the lines.
	Scatter               bool // Points only, one marker style per series.
	// LegendAbove raises the top of the y axis so that the legend sits above
	// the data: for series that cross the whole width, such as levels.
	LegendAbove bool
	// PlainX labels the x axis's ticks with %g ("20000", not "20000.00"):
	// for counts such as training steps.
	PlainX bool
	// Series are the lines; a chart of one series has no legend (its title
	// and axes name it).
	Series        []Series
	Width, Height vg.Length // Default 6 x 4 inches.
}

// PNG renders the chart as PNG bytes.
func (c Chart) PNG() ([]byte, error) {
	p, err := c.plot()
	if err != nil {
		return nil, err
	}
	w, h := c.Width, c.Height
	if w == 0 {
		w, h = 6*vg.Inch, 4*vg.Inch
	}
	return plotPNG(p, w, h)
}

// plot lays the chart out.
func (c Chart) plot() (*plot.Plot, error) {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = c.Title, c.XLabel, c.YLabel
	if c.LogY {
		p.Y.Scale = plot.LogScale{}
		p.Y.Tick.Marker = powerTicks{}
	}
	if c.LogX {
		p.X.Scale = plot.LogScale{}
		p.X.Tick.Marker = powerTicks{}
	} else if c.PlainX {
		p.X.Tick.Marker = plainTicks{}
	}
	var lines []any
	for _, s := range c.Series {
		if len(s.X) != len(s.Y) {
			return nil, fmt.Errorf("chart %q: series %q has %d x and %d y values", c.Title, s.Name, len(s.X), len(s.Y))
		}
		pts := make(plotter.XYs, 0, len(s.X))
		for i := range s.X {
			if (c.LogY && !(s.Y[i] > 0)) || (c.LogX && !(s.X[i] > 0)) {
				continue // A log axis cannot show zero or negative values.
			}
			pts = append(pts, plotter.XY{X: s.X[i], Y: s.Y[i]})
		}
		lines = append(lines, s.Name, pts)
	}
	add := plotutil.AddLines
	switch {
	case c.Scatter:
		add = plotutil.AddScatters
	case c.Points:
		add = plotutil.AddLinePoints
	}
	if err := add(p, lines...); err != nil {
		return nil, err
	}
	if len(c.Series) == 1 {
		p.Legend = plot.NewLegend() // Without its entry.
	}
	p.Legend.Top = true
	if c.LegendAbove && p.Y.Max > p.Y.Min {
		// The share of the axis left free above the data: 6% per legend
		// entry (a line of 12-point text is about 5% of a 4-inch chart's
		// plotting area), and one more.
		room := 0.06 * float64(len(c.Series)+1)
		if c.LogY && p.Y.Min > 0 {
			p.Y.Max *= math.Pow(p.Y.Max/p.Y.Min, room/(1-room))
		} else {
			p.Y.Max += (p.Y.Max - p.Y.Min) * room / (1 - room)
		}
	}
	if c.Scatter { // Leave room around the points, and keep the legend off the top-right corner.
		p.Legend.Left = true
		p.X.Min, p.X.Max = pad(p.X.Min, p.X.Max, c.LogX)
		p.Y.Min, p.Y.Max = pad(p.Y.Min, p.Y.Max, c.LogY)
	}
	return p, nil
}

// pad widens [min, max] by 8% of its length on each side (by 8% of its
// decades on a log axis, which cannot reach zero).
func pad(min, max float64, log bool) (float64, float64) {
	if log && min > 0 && max > 0 {
		f := math.Pow(max/min, 0.08)
		if f == 1 {
			f = 1.1
		}
		return min / f, max * f
	}
	d := 0.08 * (max - min)
	return min - d, max + d
}

// plotPNG renders a plot as PNG bytes of the given size.
func plotPNG(p *plot.Plot, w, h vg.Length) ([]byte, error) {
	wt, err := p.WriterTo(w, h, "png")
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if _, err := wt.WriteTo(&b); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteFile writes data to path atomically (imagefile.WriteFile).
func WriteFile(path string, data []byte) error { return imagefile.WriteFile(path, data) }

// powerTicks labels the powers of ten of a log axis as 1e-05, 0.01, 1, 100,
// 1e+04; on an axis that spans too little for two of them to be labelled,
// also the 2s and 5s between them (2, 5, 10, 20, 50), so that every chart's
// axis can be read.
type powerTicks struct{}

// plainTicks are gonum's default ticks labelled with %g.
type plainTicks struct{}

// Ticks implements plot.Ticker.
func (plainTicks) Ticks(min, max float64) []plot.Tick {
	ticks := plot.DefaultTicks{}.Ticks(min, max)
	for i, t := range ticks {
		if t.Label != "" {
			ticks[i].Label = fmt.Sprintf("%g", t.Value)
		}
	}
	return ticks
}

// Ticks implements plot.Ticker.
func (powerTicks) Ticks(min, max float64) []plot.Tick {
	// Every decade that meets [min, max] (plot.LogTicks starts at the decade
	// of min rounded towards 1, which leaves out those below 0.1 on an axis
	// that starts there), with 2..9 times each power as unlabelled ticks.
	var ticks []plot.Tick
	labelled := 0
	for p := math.Floor(math.Log10(min)); p <= math.Ceil(math.Log10(max)); p++ {
		for m := 1.0; m < 10; m++ {
			t := plot.Tick{Value: m * math.Pow(10, p)}
			if m == 1 {
				t.Label = fmt.Sprintf("%g", t.Value)
				if t.Value >= min && t.Value <= max {
					labelled++
				}
			}
			ticks = append(ticks, t)
		}
	}
	if labelled < 2 {
		for i, t := range ticks {
			decade := math.Pow(10, math.Floor(math.Log10(t.Value)+1e-9))
			if m := math.Round(t.Value / decade); m == 2 || m == 5 {
				ticks[i].Label = fmt.Sprintf("%g", m*decade)
			}
		}
	}
	return ticks
}

// LabeledGrid is Grid with a caption above each column and one before each
// row (either may be nil), returned as PNG bytes: the pixels are rows*cols
// images, row-major, each h x w x c.
func LabeledGrid(pixels []float32, rows, cols, h, w, c, zoom int, colLabels, rowLabels []string) ([]byte, error) {
	if len(colLabels) > cols || len(rowLabels) > rows {
		return nil, fmt.Errorf("labeled grid: %d column and %d row labels for %d x %d images", len(colLabels), len(rowLabels), rows, cols)
	}
	g, err := Grid(pixels, rows*cols, h, w, c, cols, zoom)
	if err != nil {
		return nil, err
	}
	face := basicfont.Face7x13
	const pad = 4
	left := 0
	for _, l := range rowLabels {
		left = max(left, font.MeasureString(face, l).Ceil()+2*pad)
	}
	top := 0
	if len(colLabels) > 0 {
		top = face.Metrics().Height.Ceil() + 2*pad
	}
	b := g.Bounds()
	img := image.NewRGBA(image.Rect(0, 0, left+b.Dx(), top+b.Dy()))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	draw.Draw(img, b.Add(image.Pt(left, top)), g, b.Min, draw.Src)
	const border = 2
	cw, ch := w*zoom+border, h*zoom+border
	d := &font.Drawer{Dst: img, Src: image.Black, Face: face}
	ascent := face.Metrics().Ascent.Ceil()
	for i, l := range colLabels {
		width := font.MeasureString(face, l).Ceil()
		d.Dot = fixed.P(left+border+i*cw+(cw-border-width)/2, pad+ascent)
		d.DrawString(l)
	}
	for i, l := range rowLabels {
		d.Dot = fixed.P(pad, top+border+i*ch+(ch-border)/2+ascent/2)
		d.DrawString(l)
	}
	return PNG(img)
}
