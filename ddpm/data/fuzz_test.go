package data

import (
	"bytes"
	"testing"
)

// The fuzz targets feed arbitrary bytes to the readers of outside input: they
// must return an error or a well-formed result, never panic or allocate
// without bound. Seeds: valid files and their damaged variants.

func FuzzReadIDXImages(f *testing.F) {
	good := idxImages(idxImagesMagic, 2, 2, 3, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11})
	f.Add(good)
	f.Add(gz(good))
	f.Add(good[:10])
	f.Add(idxImages(idxImagesMagic, 1<<31, 1<<16, 1<<16, nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		im, err := ReadIDXImages(bytes.NewReader(b))
		if err == nil && len(im.Pixels) != im.N*im.H*im.W*im.C {
			t.Fatalf("%d pixels for %dx%dx%dx%d", len(im.Pixels), im.N, im.H, im.W, im.C)
		}
	})
}

func FuzzReadIDXLabels(f *testing.F) {
	f.Add(idxLabels(idxLabelsMagic, 3, []byte{1, 2, 3}))
	f.Add(gz(idxLabels(idxLabelsMagic, 3, []byte{1, 2, 3})))
	f.Add(idxLabels(idxLabelsMagic, 3, []byte{1, 12, 3}))
	f.Fuzz(func(t *testing.T, b []byte) {
		labels, err := ReadIDXLabels(bytes.NewReader(b))
		for _, l := range labels {
			if err == nil && l > 9 {
				t.Fatalf("label %d accepted", l)
			}
		}
	})
}

func FuzzReadCIFAR10(f *testing.F) {
	f.Add(cifarRecordOf(3))
	f.Add(append(cifarRecordOf(1), cifarRecordOf(2)...))
	f.Add(cifarRecordOf(3)[:100])
	f.Fuzz(func(t *testing.T, b []byte) {
		im, err := ReadCIFAR10(bytes.NewReader(b))
		if err == nil && (len(im.Pixels) != im.N*32*32*3 || len(im.Labels) != im.N) {
			t.Fatalf("inconsistent result for %d bytes", len(b))
		}
	})
}
