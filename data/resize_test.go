package data

import (
	"strings"
	"testing"
)

// Resized keeps flat images flat, each image's own values where they are,
// the channel order of RGB images, and the labels.
func TestResized(t *testing.T) {
	const n, h = 3, 8
	grey := &Images{N: n, H: h, W: h, C: 1, Pixels: make([]uint8, n*h*h), Labels: []uint8{4, 5, 6}}
	rgb := &Images{N: n, H: h, W: h, C: 3, Pixels: make([]uint8, n*h*h*3)}
	for k := range n {
		for y := range h {
			for x := range h {
				v := uint8(40 * k) // Image k: flat at 40k, or dark left half and bright right half for k = 2.
				if k == 2 {
					v = 0
					if x >= h/2 {
						v = 255
					}
				}
				grey.Pixels[(k*h+y)*h+x] = v
				i := ((k*h+y)*h + x) * 3
				rgb.Pixels[i], rgb.Pixels[i+1], rgb.Pixels[i+2] = v, 255-v, 100
			}
		}
	}
	for _, im := range []*Images{grey, rgb} {
		r, err := im.Resized(4)
		if err != nil {
			t.Fatal(err)
		}
		if r.N != n || r.H != 4 || r.W != 4 || r.C != im.C || len(r.Pixels) != n*16*im.C || string(r.Labels) != string(im.Labels) {
			t.Fatalf("resized %dx%dx%d set of %d with labels %v (%d bytes)", r.H, r.W, r.C, r.N, r.Labels, len(r.Pixels))
		}
		at := func(k, y, x, c int) int { return int(r.Pixels[((k*4+y)*4+x)*r.C+c]) }
		for k := range 2 {
			for i := range 16 {
				if got := at(k, i/4, i%4, 0); got != 40*k {
					t.Errorf("%d channels: flat image %d has %d at pixel %d, want %d", im.C, k, got, i, 40*k)
				}
			}
		}
		for y := range 4 {
			if l, rt := at(2, y, 0, 0), at(2, y, 3, 0); l > 10 || rt < 245 {
				t.Errorf("%d channels: half-bright image row %d runs from %d to %d, want about 0 to 255", im.C, y, l, rt)
			}
			if im.C == 3 && (at(2, y, 0, 1) < 245 || at(2, y, 3, 2) != 100) {
				t.Errorf("RGB row %d: green %d at the left, blue %d: channels mixed up", y, at(2, y, 0, 1), at(2, y, 3, 2))
			}
		}
	}
	if same, _ := grey.Resized(h); same != grey {
		t.Error("resizing to the same size made a copy")
	}
	for _, c := range []struct {
		im   *Images
		size int
		want string
	}{{grey, 0, "size must lie"}, {&Images{N: 1, H: 2, W: 2, C: 2, Pixels: make([]uint8, 8)}, 1, "2 channels"}} {
		if _, err := c.im.Resized(c.size); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Resized(%d) of %d channels: error %v, want one naming %q", c.size, c.im.C, err, c.want)
		}
	}
}
