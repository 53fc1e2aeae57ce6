package data

import (
	"fmt"
	"image"
	"image/color"
	_ "image/jpeg" // Registers the JPEG decoder.
	_ "image/png"  // Registers the PNG decoder.
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
	dst := image.NewRGBA(image.Rect(0, 0, size, size))
	for _, name := range names {
		path := filepath.Join(dir, name)
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		src, _, err := image.Decode(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("image folder: %s: %w", path, err)
		}
		b := src.Bounds()
		side := min(b.Dx(), b.Dy())
		if side < 1 {
			return nil, fmt.Errorf("image folder: %s is empty", path)
		}
		origin := image.Pt(b.Min.X+(b.Dx()-side)/2, b.Min.Y+(b.Dy()-side)/2)
		crop := image.Rectangle{Min: origin, Max: origin.Add(image.Pt(side, side))}
		draw.CatmullRom.Scale(dst, dst.Bounds(), src, crop, draw.Src, nil)
		for y := range size {
			for x := range size {
				c := dst.RGBAAt(x, y)
				if channels == 1 {
					im.Pixels = append(im.Pixels, color.GrayModel.Convert(c).(color.Gray).Y)
				} else {
					im.Pixels = append(im.Pixels, c.R, c.G, c.B)
				}
			}
		}
	}
	return im, nil
}
