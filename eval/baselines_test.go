package eval

import (
	"bytes"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
)

// HoldOut takes every k-th image (k = N/n), so both halves of an ordered
// test set are sampled, and the rest is every other image, each once, with
// its label.
func TestHoldOut(t *testing.T) {
	im := stripes(25, 3)
	for i := range im.N { // Tag each image by its index in its first pixel.
		im.Pixels[i*64] = uint8(i)
	}
	held, rest, err := HoldOut(im, 6) // k = 4: images 3, 7, 11, 15, 19, 23.
	if err != nil {
		t.Fatal(err)
	}
	if held.N != 6 || rest.N != 19 || len(held.Pixels) != 6*64 || len(rest.Pixels) != 19*64 || len(held.Labels) != 6 || len(rest.Labels) != 19 {
		t.Fatalf("held %d images (%d bytes, %d labels), rest %d (%d, %d); want 6 and 19", held.N, len(held.Pixels), len(held.Labels), rest.N, len(rest.Pixels), len(rest.Labels))
	}
	seen := map[int]bool{}
	for j := range held.N {
		i := int(held.Pixels[j*64])
		if i != 4*j+3 {
			t.Errorf("held-out image %d is image %d, want %d", j, i, 4*j+3)
		}
		if !bytes.Equal(held.Image(j), im.Image(i)) || held.Labels[j] != im.Labels[i] {
			t.Errorf("held-out image %d differs from image %d or its label", j, i)
		}
		seen[i] = true
	}
	for j := range rest.N {
		i := int(rest.Pixels[j*64])
		if seen[i] || !bytes.Equal(rest.Image(j), im.Image(i)) || rest.Labels[j] != im.Labels[i] {
			t.Errorf("rest image %d (image %d) is held out too, or differs from the image or its label", j, i)
		}
		seen[i] = true
	}
	if len(seen) != im.N {
		t.Errorf("%d of %d images are in one of the two sets", len(seen), im.N)
	}
	for _, n := range []int{0, 13} {
		if _, _, err := HoldOut(im, n); err == nil || !strings.Contains(err.Error(), "twice as many images") {
			t.Errorf("holding out %d of 25: %v, want an error", n, err)
		}
	}
}

// The baselines hold out test images when there are twice as many as
// samples: images of the test set's own distribution, so they cover the
// reference (coverage and recall near 1, as the training images'), where
// noise covers none of it.
func TestMeasureBaselinesHeldOut(t *testing.T) {
	b := backend.MustNew()
	if strings.HasPrefix(b.Name(), "go") {
		t.Skip("training needs the XLA backend (the pure-Go backend of GoMLX v0.26.0 lacks the gradient of max pooling)")
	}
	c, err := TrainClassifier(b, stripesConfig(), stripes(640, 1), stripes(200, 2), nil)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	train, test := stripes(n, 4), stripes(2*n, 5)
	ref, err := TestReference(c, test, n)
	if err != nil {
		t.Fatal(err)
	}
	bl, err := MeasureBaselines(c, ref, train, test, n, 1)
	if err != nil {
		t.Fatal(err)
	}
	if bl.HeldOut == nil {
		t.Fatal("no held-out baseline with twice as many test images as samples")
	}
	h := *bl.HeldOut
	t.Logf("held out: Fréchet %.3f coverage %.3f; training images %.3f %.3f; noise %.3f %.3f", h.Frechet, h.Coverage,
		bl.TrainVsTest.Frechet, bl.TrainVsTest.Coverage, bl.Noise.Frechet, bl.Noise.Coverage)
	if h.N != n || h.Coverage < 0.8 || h.Recall < 0.8 || bl.Noise.Coverage > 0.1 {
		t.Errorf("held-out test images: %+v (noise: coverage %.3f); want %d images with coverage and recall above 0.8, noise's coverage below 0.1", h, bl.Noise.Coverage, n)
	}
	if bl, err = MeasureBaselines(c, ref, train, test.Subset(2*n-1), n, 1); err != nil || bl.HeldOut != nil {
		t.Errorf("with %d test images for %d samples: held out %v (%v), want none", 2*n-1, n, bl.HeldOut, err)
	}
}
