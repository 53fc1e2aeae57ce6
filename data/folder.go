package data

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // Registers the JPEG decoder.
	_ "image/png"  // Registers the PNG decoder.
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/image/draw"
)

// LoadFolder reads every .png, .jpg and .jpeg file of dir (not its
// subfolders), centre-crops each to a square, resizes it to size x size
// (Catmull-Rom) and keeps channels 1 (grey) or 3 (RGB). Files are taken in
// name order. A file that does not decode is an error that names it.
func LoadFolder(dir string, size, channels int) (*Images, error) {
	if size < 1 || size > 4096 {
		return nil, fmt.Errorf("image folder: size %d must lie in [1, 4096]", size)
	}
	if channels != 1 && channels != 3 {
		return nil, fmt.Errorf("image folder: %d channels, want 1 (grey) or 3 (RGB)", channels)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("image folder: %w", err)
	}
	var names []string
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		if e.Type().IsRegular() && (ext == ".png" || ext == ".jpg" || ext == ".jpeg") {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	if len(names) == 0 {
		return nil, fmt.Errorf("image folder %s has no .png, .jpg or .jpeg files", dir)
	}
	im := &Images{N: len(names), H: size, W: size, C: channels, Pixels: make([]uint8, 0, len(names)*size*size*channels)}
	for _, name := range names {
		path := filepath.Join(dir, name)
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		px, err := DecodeImage(f, size, channels)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("image folder: %s: %w", path, err)
		}
		im.Pixels = append(im.Pixels, px...)
	}
	return im, nil
}

// MaxImagePixels bounds the width x height an image file may declare: a
// damaged or hostile header cannot make the decoder allocate gigabytes.
const MaxImagePixels = 1 << 26

// DecodeImage decodes one PNG or JPEG image, centre-crops it to a square,
// resizes it to size x size (Catmull-Rom) and returns its pixels with 1
// (grey) or 3 (RGB) channels, row-major.
func DecodeImage(r io.Reader, size, channels int) ([]uint8, error) {
	if size < 1 || size > 4096 || (channels != 1 && channels != 3) {
		return nil, fmt.Errorf("decoding to %dx%d with %d channels: size must lie in [1, 4096], channels be 1 or 3", size, size, channels)
	}
	raw, err := io.ReadAll(io.LimitReader(r, 1<<30))
	if err != nil {
		return nil, err
	}
	cfg, _, err := image.DecodeConfig(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	if cfg.Width < 1 || cfg.Height < 1 {
		return nil, fmt.Errorf("image is empty (%dx%d)", cfg.Width, cfg.Height)
	}
	if int64(cfg.Width)*int64(cfg.Height) > MaxImagePixels {
		return nil, fmt.Errorf("image of %dx%d pixels is larger than the %d pixels allowed", cfg.Width, cfg.Height, MaxImagePixels)
	}
	src, _, err := image.Decode(bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	b := src.Bounds()
	side := min(b.Dx(), b.Dy())
	if side < 1 {
		return nil, errors.New("image is empty")
	}
	origin := image.Pt(b.Min.X+(b.Dx()-side)/2, b.Min.Y+(b.Dy()-side)/2)
	crop := image.Rectangle{Min: origin, Max: origin.Add(image.Pt(side, side))}
	dst := image.NewRGBA(image.Rect(0, 0, size, size))
	draw.CatmullRom.Scale(dst, dst.Bounds(), src, crop, draw.Src, nil)
	out := make([]uint8, 0, size*size*channels)
	for y := range size {
		for x := range size {
			c := dst.RGBAAt(x, y)
			if channels == 1 {
				out = append(out, color.GrayModel.Convert(c).(color.Gray).Y)
			} else {
				out = append(out, c.R, c.G, c.B)
			}
		}
	}
	return out, nil
}

// Resized returns the images scaled to size x size (Catmull-Rom, as
// LoadFolder resizes), keeping their channels and labels; the images
// themselves are left as they are. A set of that size already is returned
// as it is.
func (im *Images) Resized(size int) (*Images, error) {
	if size < 1 || size > 4096 {
		return nil, fmt.Errorf("resizing to %dx%d: size must lie in [1, 4096]", size, size)
	}
	if im.C != 1 && im.C != 3 {
		return nil, fmt.Errorf("resizing images of %d channels: only 1 (grey) and 3 (RGB) are supported", im.C)
	}
	if im.H == size && im.W == size {
		return im, nil
	}
	out := &Images{N: im.N, H: size, W: size, C: im.C, Pixels: make([]uint8, 0, im.N*size*size*im.C), Labels: im.Labels}
	src := image.NewRGBA(image.Rect(0, 0, im.W, im.H))
	dst := image.NewRGBA(image.Rect(0, 0, size, size))
	per := im.H * im.W * im.C
	for n := range im.N {
		px := im.Pixels[n*per : (n+1)*per]
		for i := range im.H * im.W {
			r, g, b := px[i*im.C], px[i*im.C], px[i*im.C]
			if im.C == 3 {
				g, b = px[i*3+1], px[i*3+2]
			}
			src.Pix[4*i], src.Pix[4*i+1], src.Pix[4*i+2], src.Pix[4*i+3] = r, g, b, 255
		}
		draw.CatmullRom.Scale(dst, dst.Bounds(), src, src.Bounds(), draw.Src, nil)
		for i := range size * size {
			if im.C == 1 {
				out.Pixels = append(out.Pixels, dst.Pix[4*i])
			} else {
				out.Pixels = append(out.Pixels, dst.Pix[4*i:4*i+3]...)
			}
		}
	}
	return out, nil
}
