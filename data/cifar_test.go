package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// cifarRecordOf builds one record whose pixel (y, x) has R=x, G=y, B=label.
func cifarRecordOf(label byte) []byte {
	rec := make([]byte, cifarRecord)
	rec[0] = label
	for y := range 32 {
		for x := range 32 {
			rec[1+y*32+x] = byte(x)
			rec[1+1024+y*32+x] = byte(y)
			rec[1+2048+y*32+x] = label
		}
	}
	return rec
}

func TestReadCIFAR10(t *testing.T) {
	raw := append(cifarRecordOf(3), cifarRecordOf(9)...)
	im, err := ReadCIFAR10(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if im.N != 2 || im.H != 32 || im.W != 32 || im.C != 3 || im.Labels[0] != 3 || im.Labels[1] != 9 {
		t.Fatalf("got %d images %dx%dx%d labels %v", im.N, im.H, im.W, im.C, im.Labels)
	}
	// Planar to interleaved: image 1, pixel (y=5, x=7) is (7, 5, 9).
	px := im.Image(1)[(5*32+7)*3:]
	if px[0] != 7 || px[1] != 5 || px[2] != 9 {
		t.Errorf("pixel (5,7) of image 1 = %v, want [7 5 9]", px[:3])
	}
	for name, tc := range map[string]struct {
		data    []byte
		mention string
	}{
		"truncated": {raw[:len(raw)-1], "whole number"},
		"empty":     {nil, "whole number"},
		"label":     {cifarRecordOf(10), "label 10"},
	} {
		if _, err := ReadCIFAR10(bytes.NewReader(tc.data)); err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: err=%v, want one mentioning %q", name, err, tc.mention)
		}
	}
}

// TestUntarCIFAR10Layout: the archive layout unpacks, a path escaping the
// folder is ignored, and LoadCIFAR10 reads the result.
func TestUntarCIFAR10Layout(t *testing.T) {
	dir := t.TempDir()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	add := func(name string, data []byte) {
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg})
		_, _ = tw.Write(data)
	}
	add("cifar-10-batches-bin/test_batch.bin", append(cifarRecordOf(1), cifarRecordOf(2)...))
	add("../evil.bin", []byte("x"))
	_ = tw.Close()
	_ = zw.Close()
	archive := filepath.Join(dir, cifarArchive)
	_ = os.WriteFile(archive, buf.Bytes(), 0o644)
	if err := untarGz(archive, dir, cifarSubDir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "evil.bin")); err == nil {
		t.Fatal("archive entry ../evil.bin escaped the folder")
	}
	im, err := LoadCIFAR10(dir, Test)
	if err != nil {
		t.Fatal(err)
	}
	if im.N != 2 || im.Labels[1] != 2 {
		t.Errorf("loaded %d images, labels %v", im.N, im.Labels)
	}
	if _, err := LoadCIFAR10(dir, Train); err == nil || !strings.Contains(err.Error(), "data_batch_1.bin") {
		t.Errorf("missing training batches: err=%v", err)
	}
	// A corrupt archive in place is detected by its checksum.
	if err := verifySHA256(archive, CIFAR10SHA256); err == nil || !strings.Contains(err.Error(), "SHA-256") {
		t.Errorf("checksum of a fake archive: err=%v", err)
	}
}

func TestLoadFolder(t *testing.T) {
	dir := t.TempDir()
	// A 4x2 image: left half black, right half white; centre crop is the middle 2x2.
	img := image.NewRGBA(image.Rect(0, 0, 4, 2))
	for y := range 2 {
		for x := range 4 {
			v := uint8(0)
			if x >= 2 {
				v = 255
			}
			img.Set(x, y, color.RGBA{v, v, v, 255})
		}
	}
	var b bytes.Buffer
	_ = png.Encode(&b, img)
	_ = os.WriteFile(filepath.Join(dir, "a.png"), b.Bytes(), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("ignored"), 0o644)
	im, err := LoadFolder(dir, 2, 1)
	if err != nil {
		t.Fatal(err)
	}
	if im.N != 1 || len(im.Pixels) != 4 {
		t.Fatalf("got %d images, %d pixels", im.N, len(im.Pixels))
	}
	if im.Pixels[0] != 0 || im.Pixels[1] != 255 {
		t.Errorf("centre crop pixels %v, want black then white", im.Pixels)
	}
	_ = os.WriteFile(filepath.Join(dir, "b.jpg"), []byte("not a jpeg"), 0o644)
	if _, err := LoadFolder(dir, 2, 1); err == nil || !strings.Contains(err.Error(), "b.jpg") {
		t.Errorf("corrupt image: err=%v", err)
	}
	if _, err := LoadFolder(t.TempDir(), 2, 1); err == nil || !strings.Contains(err.Error(), "no .png") {
		t.Errorf("empty folder: err=%v", err)
	}
	if _, err := LoadFolder(dir, 2, 2); err == nil || !strings.Contains(err.Error(), "2 channels") {
		t.Errorf("2 channels: err=%v", err)
	}
}
