package data

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"strings"
	"testing"
)

func idxImages(magic uint32, n, h, w uint32, pixels []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, [4]uint32{magic, n, h, w})
	b.Write(pixels)
	return b.Bytes()
}

func idxLabels(magic uint32, n uint32, labels []byte) []byte {
	var b bytes.Buffer
	_ = binary.Write(&b, binary.BigEndian, [2]uint32{magic, n})
	b.Write(labels)
	return b.Bytes()
}

func gz(b []byte) []byte {
	var out bytes.Buffer
	zw := gzip.NewWriter(&out)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return out.Bytes()
}

func TestReadIDXImages(t *testing.T) {
	pix := []byte{0, 255, 128, 1, 2, 3, 4, 5, 6, 7, 8, 9}
	for name, raw := range map[string][]byte{
		"raw":  idxImages(idxImagesMagic, 2, 2, 3, pix),
		"gzip": gz(idxImages(idxImagesMagic, 2, 2, 3, pix)),
	} {
		im, err := ReadIDXImages(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if im.N != 2 || im.H != 2 || im.W != 3 || im.C != 1 || !bytes.Equal(im.Pixels, pix) {
			t.Errorf("%s: got %dx%dx%dx%d %v", name, im.N, im.H, im.W, im.C, im.Pixels)
		}
		f := im.Float()
		// 0 -> -1, 255 -> 1, 128 -> 128/127.5 - 1.
		if f[0] != -1 || f[1] != 1 || f[2] != float32(128)/127.5-1 {
			t.Errorf("%s: scaled pixels %v", name, f[:3])
		}
	}
}

func TestReadIDXRejectsBadFiles(t *testing.T) {
	good := idxImages(idxImagesMagic, 2, 2, 2, make([]byte, 8))
	for _, tc := range []struct {
		name    string
		data    []byte
		mention string
	}{
		{"empty", nil, "too short"},
		{"short header", good[:10], "header"},
		{"label magic", idxImages(idxLabelsMagic, 2, 2, 2, make([]byte, 8)), "magic number 0x00000801"},
		{"truncated", good[:len(good)-1], "ends early"},
		{"trailing data", append(append([]byte{}, good...), 0), "continues past"},
		{"zero images", idxImages(idxImagesMagic, 0, 28, 28, nil), "implausible"},
		{"huge", idxImages(idxImagesMagic, 1<<31, 1<<16, 1<<16, nil), "implausible"},
		{"corrupt gzip", append([]byte{0x1f, 0x8b}, good...), "gzip"},
		{"truncated gzip", gz(good)[:20], "ends early"},
	} {
		_, err := ReadIDXImages(bytes.NewReader(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: err=%v, want one mentioning %q", tc.name, err, tc.mention)
		}
	}
	for _, tc := range []struct {
		name    string
		data    []byte
		mention string
	}{
		{"not a digit", idxLabels(idxLabelsMagic, 3, []byte{1, 10, 2}), "label 10 of example 1"},
		{"image magic", idxLabels(idxImagesMagic, 1, []byte{1}), "magic number"},
		{"truncated", idxLabels(idxLabelsMagic, 3, []byte{1, 2}), "ends early"},
	} {
		_, err := ReadIDXLabels(bytes.NewReader(tc.data))
		if err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("labels %s: err=%v, want one mentioning %q", tc.name, err, tc.mention)
		}
	}
}

// TestRealMNIST reads the real files shipped by the GoMNIST module. The
// test-set digit counts are those published with MNIST.
func TestRealMNIST(t *testing.T) {
	if testing.Short() {
		t.Skip("reading the real MNIST files skipped in -short mode")
	}
	test, err := LoadMNIST("", Test)
	if err != nil {
		t.Fatal(err)
	}
	if test.N != 10000 || test.H != 28 || test.W != 28 || test.C != 1 {
		t.Fatalf("MNIST test: %d images of %dx%dx%d, want 10000 of 28x28x1", test.N, test.H, test.W, test.C)
	}
	var counts [10]int
	for _, l := range test.Labels {
		counts[l]++
	}
	if want := [10]int{980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009}; counts != want {
		t.Errorf("MNIST test digit counts %v, want %v", counts, want)
	}
	train, err := LoadMNIST("", Train)
	if err != nil {
		t.Fatal(err)
	}
	if train.N != 60000 {
		t.Errorf("MNIST train: %d images, want 60000", train.N)
	}
	if _, err := LoadMNIST(t.TempDir(), Test); err == nil || !strings.Contains(err.Error(), "no t10k-images") {
		t.Errorf("empty folder: err=%v", err)
	}
}
