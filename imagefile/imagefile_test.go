package imagefile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGrid(t *testing.T) {
	// Two 1x2 grey images: values -1, 1 and 0, 2 (2 clips to white).
	img, err := Grid([]float32{-1, 1, 0, 2}, 2, 1, 2, 1, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	// 2 columns of width 2 + border 2, plus the last border: 2*(2+2)+2 = 10 by 1+2+2 = 5.
	if b := img.Bounds(); b.Dx() != 10 || b.Dy() != 5 {
		t.Fatalf("grid is %dx%d, want 10x5", b.Dx(), b.Dy())
	}
	for _, tc := range []struct {
		x, y int
		want uint8
	}{{2, 2, 0}, {3, 2, 255}, {6, 2, 128}, {7, 2, 255}, {0, 0, 255}} {
		if got := img.RGBAAt(tc.x, tc.y).R; got != tc.want {
			t.Errorf("pixel (%d,%d) = %d, want %d", tc.x, tc.y, got, tc.want)
		}
	}
	if _, err := Grid([]float32{0, 0, 0}, 2, 1, 2, 1, 2, 1); err == nil || !strings.Contains(err.Error(), "3 values for 2 images") {
		t.Errorf("wrong length: err=%v", err)
	}
	if _, err := Grid(make([]float32, 8), 2, 1, 2, 2, 2, 1); err == nil || !strings.Contains(err.Error(), "2 channels") {
		t.Errorf("2 channels: err=%v", err)
	}
}

// TestWriteFile: the file appears whole under its name, its folder is made,
// and no temporary file is left behind.
func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a", "grid.png")
	if err := WriteFile(path, []byte("data")); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "data" {
		t.Fatalf("read back %q, %v", b, err)
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 1 {
		t.Errorf("%d entries in the folder, want the file alone", len(entries))
	}
}
