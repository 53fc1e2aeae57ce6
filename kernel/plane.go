package kernel

import (
	"encoding/base64"
	"fmt"
	"html"
	"image/color"
	"math"
	"strings"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
)

// Charts of two-dimensional data (the toy notebook): point clouds and
// vector fields on the square [-lim, lim]^2.

// PlanePoints is one set of points of a PlaneChart, flat [n, 2].
type PlanePoints struct {
	Name string
	XY   []float32
}

// PlaneChart describes a square chart of the plane.
type PlaneChart struct {
	Title string
	Lim   float64 // the axes span [-Lim, Lim]
	Size  vg.Length
	// Points are drawn as small dots, one colour per set.
	Points []PlanePoints
	// Field, if set, is drawn as arrows at GridPoints(FieldN, Lim): flat
	// [FieldN*FieldN, 2] vectors, each drawn with length proportional to the
	// square root of its norm (so that weak vectors stay visible), the
	// longest one grid cell long.
	Field  []float32
	FieldN int
}

// GridPoints is an n x n grid of [-lim, lim]^2 (cell centres), flat
// [n*n, 2] with x varying fastest.
func GridPoints(n int, lim float64) []float32 {
	out := make([]float32, 0, 2*n*n)
	for r := range n {
		for c := range n {
			out = append(out, float32(gridCoord(c, n, lim)), float32(gridCoord(r, n, lim)))
		}
	}
	return out
}

func gridCoord(i, n int, lim float64) float64 { return -lim + (float64(i)+0.5)*2*lim/float64(n) }

// planeField adapts a flat field to plotter.FieldXY.
type planeField struct {
	n    int
	lim  float64
	vecs []float32
}

func (f planeField) Dims() (c, r int) { return f.n, f.n }
func (f planeField) Vector(c, r int) plotter.XY {
	i := 2 * (r*f.n + c)
	x, y := float64(f.vecs[i]), float64(f.vecs[i+1])
	if l := math.Hypot(x, y); l > 0 { // Length sqrt(|v|): short vectors stay visible.
		x, y = x/math.Sqrt(l), y/math.Sqrt(l)
	}
	return plotter.XY{X: x, Y: y}
}
func (f planeField) X(c int) float64 { return gridCoord(c, f.n, f.lim) }
func (f planeField) Y(r int) float64 { return gridCoord(r, f.n, f.lim) }

var planeColors = []color.Color{
	color.RGBA{31, 119, 180, 255}, color.RGBA{214, 39, 40, 255}, color.RGBA{44, 160, 44, 255},
	color.RGBA{148, 103, 189, 255}, color.RGBA{255, 127, 14, 255},
}

// PNG renders the chart.
func (c PlaneChart) PNG() ([]byte, error) {
	if !(c.Lim > 0) {
		return nil, fmt.Errorf("plane chart %q: Lim %g must be positive", c.Title, c.Lim)
	}
	p := plot.New()
	p.Title.Text = c.Title
	p.X.Min, p.X.Max, p.Y.Min, p.Y.Max = -c.Lim, c.Lim, -c.Lim, c.Lim
	for i, set := range c.Points {
		if len(set.XY)%2 != 0 {
			return nil, fmt.Errorf("plane chart %q: points %q have an odd number of coordinates", c.Title, set.Name)
		}
		xys := make(plotter.XYs, 0, len(set.XY)/2)
		for j := 0; j+1 < len(set.XY); j += 2 {
			x, y := float64(set.XY[j]), float64(set.XY[j+1])
			if math.Abs(x) <= c.Lim && math.Abs(y) <= c.Lim { // Points off the chart are not drawn.
				xys = append(xys, plotter.XY{X: x, Y: y})
			}
		}
		s, err := plotter.NewScatter(xys)
		if err != nil {
			return nil, err
		}
		s.GlyphStyle.Shape = draw.CircleGlyph{}
		s.GlyphStyle.Radius = vg.Points(1)
		s.GlyphStyle.Color = planeColors[i%len(planeColors)]
		if c.Field != nil { // Light points under the arrows.
			r, g, b, _ := s.GlyphStyle.Color.RGBA()
			s.GlyphStyle.Color = color.NRGBA{uint8(r >> 8), uint8(g >> 8), uint8(b >> 8), 70}
		}
		p.Add(s)
		if set.Name != "" {
			p.Legend.Add(set.Name, s)
		}
	}
	if c.Field != nil {
		if c.FieldN < 1 || len(c.Field) != 2*c.FieldN*c.FieldN {
			return nil, fmt.Errorf("plane chart %q: %d field values for a %d x %d grid", c.Title, len(c.Field), c.FieldN, c.FieldN)
		}
		f := plotter.NewField(planeField{n: c.FieldN, lim: c.Lim, vecs: c.Field})
		f.LineStyle.Width = vg.Points(0.7)
		f.DrawGlyph = func(cv vg.Canvas, sty draw.LineStyle, _ plotter.XY) {
			// A unit arrow to (1, 0) centred on the grid point, with a head
			// large enough to read at a glance.
			cv.SetLineWidth(sty.Width)
			cv.SetColor(sty.Color)
			var shaft, head vg.Path
			shaft.Move(vg.Point{X: -0.5})
			shaft.Line(vg.Point{X: 0.5})
			head.Move(vg.Point{X: 0.2, Y: 0.22})
			head.Line(vg.Point{X: 0.5})
			head.Line(vg.Point{X: 0.2, Y: -0.22})
			cv.Stroke(shaft)
			cv.Stroke(head)
		}
		p.Add(f)
	}
	p.Legend.Top, p.Legend.Left = true, true
	size := c.Size
	if size == 0 {
		size = 3.2 * vg.Inch
	}
	return plotPNG(p, size, size)
}

// Row lays PNG images side by side, as an HTML snippet for
// gonbui.DisplayHTML (each image keeps its size; the row wraps when narrow).
func Row(pngs ...[]byte) string {
	figs := make([]Figure, len(pngs))
	for i, p := range pngs {
		figs[i].PNG = p
	}
	return FigureRow(figs...)
}

// Figure is a PNG image with an optional caption.
type Figure struct {
	PNG     []byte
	Caption string
}

// FigureRow lays figures side by side with their captions under them, as an
// HTML snippet for gonbui.DisplayHTML (the row wraps when narrow).
func FigureRow(figs ...Figure) string {
	var sb strings.Builder
	sb.WriteString(`<div style="display:flex;flex-wrap:wrap;gap:8px">`)
	for _, f := range figs {
		img := fmt.Sprintf(`<img src="data:image/png;base64,%s">`, base64.StdEncoding.EncodeToString(f.PNG))
		if f.Caption == "" {
			sb.WriteString(img)
			continue
		}
		fmt.Fprintf(&sb, `<figure style="margin:0">%s<figcaption style="font-size:smaller">%s</figcaption></figure>`, img, html.EscapeString(f.Caption))
	}
	sb.WriteString(`</div>`)
	return sb.String()
}
