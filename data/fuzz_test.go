package data

import (
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"strings"
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

func FuzzDecodeImage(f *testing.F) {
	grey := image.NewGray(image.Rect(0, 0, 5, 3))
	grey.SetGray(1, 1, color.Gray{200})
	rgb := image.NewRGBA(image.Rect(0, 0, 4, 4))
	rgb.Set(2, 2, color.RGBA{255, 0, 0, 255})
	var p1, p2, j bytes.Buffer
	_ = png.Encode(&p1, grey)
	_ = png.Encode(&p2, rgb)
	_ = jpeg.Encode(&j, rgb, nil)
	f.Add(p1.Bytes(), 8)
	f.Add(p2.Bytes(), 3)
	f.Add(j.Bytes(), 28)
	f.Add(p1.Bytes()[:30], 8)
	f.Add(hugePNG(), 8)
	f.Fuzz(func(t *testing.T, b []byte, size int) {
		size = 1 + (size&0x7fffffff)%64
		for _, ch := range []int{1, 3} {
			px, err := DecodeImage(bytes.NewReader(b), size, ch)
			if err != nil {
				continue
			}
			if len(px) != size*size*ch {
				t.Fatalf("%d pixels for %dx%dx%d", len(px), size, size, ch)
			}
			// Round trip: the decoded pixels, saved as a PNG of that size,
			// decode to themselves (no resampling, no colour change).
			again, err := DecodeImage(bytes.NewReader(pngOf(t, px, size, ch)), size, ch)
			if err != nil || !bytes.Equal(again, px) {
				t.Fatalf("%dx%dx%d pixels saved as PNG decode differently (%v)", size, size, ch, err)
			}
		}
	})
}

// pngOf encodes size x size pixels with 1 (grey) or 3 (RGB) channels.
func pngOf(t *testing.T, px []uint8, size, ch int) []byte {
	var img image.Image
	if ch == 1 {
		img = &image.Gray{Pix: px, Stride: size, Rect: image.Rect(0, 0, size, size)}
	} else {
		rgba := image.NewNRGBA(image.Rect(0, 0, size, size))
		for i := range size * size {
			copy(rgba.Pix[4*i:], px[3*i:3*i+3])
			rgba.Pix[4*i+3] = 255
		}
		img = rgba
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestDecodeImageRejectsHugeHeader(t *testing.T) {
	if _, err := DecodeImage(bytes.NewReader(hugePNG()), 8, 1); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a PNG header claiming 100000x100000 pixels: %v", err)
	}
}

// hugePNG is a valid PNG whose header (with a correct checksum) claims
// 100000 x 100000 pixels.
func hugePNG() []byte {
	var b bytes.Buffer
	_ = png.Encode(&b, image.NewGray(image.Rect(0, 0, 2, 2)))
	raw := b.Bytes()
	binary.BigEndian.PutUint32(raw[16:], 100000) // IHDR: width, height at bytes 16-23,
	binary.BigEndian.PutUint32(raw[20:], 100000)
	binary.BigEndian.PutUint32(raw[29:], crc32.ChecksumIEEE(raw[12:29])) // its CRC after type and data.
	return raw
}
