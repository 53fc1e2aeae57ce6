// Package imagefile writes images of the library's tensors: a grid of
// images in [-1, 1] as PNG, written atomically. The command and the
// notebook helpers (kernel) share it.
package imagefile

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math"
	"os"
	"path/filepath"
)

// Grid lays out n images of h x w x c (values in [-1, 1], flat row-major
// [n, h, w, c]) in a grid with cols columns, each image scaled up by zoom and
// separated by a 2-pixel white border. Values outside [-1, 1] are clipped.
// c must be 1 (grey) or 3 (RGB).
func Grid(pixels []float32, n, h, w, c, cols, zoom int) (*image.RGBA, error) {
	if n < 1 || h < 1 || w < 1 || cols < 1 || zoom < 1 {
		return nil, fmt.Errorf("image grid: need positive sizes, got n=%d h=%d w=%d cols=%d zoom=%d", n, h, w, cols, zoom)
	}
	if c != 1 && c != 3 {
		return nil, fmt.Errorf("image grid: %d channels, want 1 or 3", c)
	}
	if len(pixels) != n*h*w*c {
		return nil, fmt.Errorf("image grid: %d values for %d images of %dx%dx%d", len(pixels), n, h, w, c)
	}
	const border = 2
	if cols > n {
		cols = n
	}
	rows := (n + cols - 1) / cols
	cw, ch := w*zoom+border, h*zoom+border
	img := image.NewRGBA(image.Rect(0, 0, cols*cw+border, rows*ch+border))
	for i := range img.Pix {
		img.Pix[i] = 255
	}
	level := func(v float32) uint8 {
		f := (float64(v) + 1) * 127.5
		return uint8(math.Round(math.Max(0, math.Min(255, f))))
	}
	for k := range n {
		x0, y0 := border+(k%cols)*cw, border+(k/cols)*ch
		for y := range h * zoom {
			for x := range w * zoom {
				base := ((k*h+y/zoom)*w + x/zoom) * c
				var col color.RGBA
				if c == 1 {
					g := level(pixels[base])
					col = color.RGBA{g, g, g, 255}
				} else {
					col = color.RGBA{level(pixels[base]), level(pixels[base+1]), level(pixels[base+2]), 255}
				}
				img.SetRGBA(x0+x, y0+y, col)
			}
		}
	}
	return img, nil
}

// PNG encodes an image.
func PNG(img image.Image) ([]byte, error) {
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// WriteFile writes data to path atomically (temporary file, then rename),
// creating the folder if needed.
func WriteFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}
