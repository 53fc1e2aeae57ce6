package kernel

import (
	"bytes"
	"image/png"
	"strings"
	"testing"
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
