package kernel

import (
	"bytes"
	"image/png"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/unet"
)

func TestGridPoints(t *testing.T) {
	got := GridPoints(2, 1)
	want := []float32{-0.5, -0.5, 0.5, -0.5, -0.5, 0.5, 0.5, 0.5}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("GridPoints(2, 1) = %v, want %v", got, want)
		}
	}
}

func TestPlaneChart(t *testing.T) {
	field := make([]float32, 2*9)
	for i := range 9 {
		field[2*i] = float32(i) // includes a zero vector
	}
	b, err := PlaneChart{Title: "t", Lim: 2, Points: []PlanePoints{{Name: "a", XY: []float32{0, 0, 1, 1, 5, 5}}}, Field: field, FieldN: 3}.PNG()
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil || img.Bounds().Dx() != img.Bounds().Dy() {
		t.Fatalf("not a square PNG: %v", err)
	}
	for _, tc := range []struct {
		c    PlaneChart
		want string
	}{
		{PlaneChart{Title: "x"}, "Lim 0 must be positive"},
		{PlaneChart{Lim: 1, Points: []PlanePoints{{Name: "p", XY: []float32{1}}}}, "odd number"},
		{PlaneChart{Lim: 1, Field: []float32{1, 2}, FieldN: 2}, "2 field values for a 2 x 2 grid"},
	} {
		if _, err := tc.c.PNG(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
	if row := Row(b, b); strings.Count(row, "<img src=\"data:image/png;base64,") != 2 {
		t.Errorf("Row of two images: %.80s", row)
	}
}

// TestRadialPowerSpectrum: white noise of variance 4 has power about 4 at
// every radius; a constant image has all its power at radius 0
// (|DFT(0)|^2 / (h w) = h w c^2, averaged over the one frequency there).
func TestRadialPowerSpectrum(t *testing.T) {
	const n, h, w = 200, 16, 16
	rng := rand.New(rand.NewPCG(1, 2))
	noise := make([]float32, n*h*w)
	for i := range noise {
		noise[i] = float32(2 * rng.NormFloat64())
	}
	p, err := RadialPowerSpectrum(noise, n, h, w)
	if err != nil {
		t.Fatal(err)
	}
	for r, v := range p {
		if math.Abs(v-4) > 0.6 {
			t.Errorf("white noise: power %.3f at radius %d, want about 4", v, r)
		}
	}
	flat := make([]float32, h*w)
	for i := range flat {
		flat[i] = 0.5
	}
	p, err = RadialPowerSpectrum(flat, 1, h, w)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(p[0]-h*w*0.25) > 1e-9 || p[1] > 1e-12 || p[len(p)-1] > 1e-12 {
		t.Errorf("constant image: power %v, want %g at radius 0 and 0 elsewhere", p, h*w*0.25)
	}
	if _, err := RadialPowerSpectrum(flat, 2, h, w); err == nil {
		t.Error("a short pixel slice was accepted")
	}
}

func TestUNetDiagram(t *testing.T) {
	for _, name := range unet.PresetNames() {
		c, err := unet.Preset(name)
		if err != nil {
			t.Fatal(err)
		}
		b, err := UNetDiagram(c)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		img, err := png.Decode(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		// One row of boxes per stage plus the middle: the height grows with the stages.
		if want := 70 + len(c.ChannelMult)*(58+26) + 58 + 20; img.Bounds().Dy() != want {
			t.Errorf("%s: diagram %d pixels high, want %d for %d stages", name, img.Bounds().Dy(), want, len(c.ChannelMult))
		}
	}
	if _, err := UNetDiagram(unet.Config{}); err == nil {
		t.Error("an invalid configuration was drawn")
	}
}
