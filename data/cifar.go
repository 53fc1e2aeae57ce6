package data

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// CIFAR-10 binary format: records of 1 label byte and 3072 pixel bytes, the
// 1024 red values of the 32x32 image row by row, then green, then blue.
const (
	cifarSide      = 32
	cifarPixels    = cifarSide * cifarSide * 3
	cifarRecord    = 1 + cifarPixels
	cifarPerFile   = 10000
	cifarSubDir    = "cifar-10-batches-bin"
	cifarArchive   = "cifar-10-binary.tar.gz"
	CIFAR10URL     = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"
	CIFAR10SHA256  = "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd"
	cifarArchiveSz = 170052171
)

// ReadCIFAR10 reads one CIFAR-10 binary batch file: a whole number of
// 3073-byte records with labels 0..9. Images come out as [N, 32, 32, 3].
func ReadCIFAR10(r io.Reader) (*Images, error) {
	raw, err := io.ReadAll(io.LimitReader(r, 64*cifarRecord*cifarPerFile+1))
	if err != nil {
		return nil, fmt.Errorf("CIFAR-10: %w", err)
	}
	if len(raw) == 0 || len(raw)%cifarRecord != 0 {
		return nil, fmt.Errorf("CIFAR-10: %d bytes is not a whole number of %d-byte records (truncated or not a CIFAR-10 binary batch)", len(raw), cifarRecord)
	}
	if len(raw) > 64*cifarRecord*cifarPerFile {
		return nil, fmt.Errorf("CIFAR-10: file larger than any CIFAR-10 batch")
	}
	n := len(raw) / cifarRecord
	im := &Images{N: n, H: cifarSide, W: cifarSide, C: 3, Pixels: make([]uint8, n*cifarPixels), Labels: make([]uint8, n)}
	plane := cifarSide * cifarSide
	for i := range n {
		rec := raw[i*cifarRecord : (i+1)*cifarRecord]
		if rec[0] > 9 {
			return nil, fmt.Errorf("CIFAR-10: record %d has label %d, want 0..9 (not a CIFAR-10 binary batch)", i, rec[0])
		}
		im.Labels[i] = rec[0]
		dst := im.Pixels[i*cifarPixels : (i+1)*cifarPixels]
		for p := range plane { // Planar RGB to interleaved HWC.
			dst[3*p], dst[3*p+1], dst[3*p+2] = rec[1+p], rec[1+plane+p], rec[1+2*plane+p]
		}
	}
	return im, nil
}

// LoadCIFAR10 reads the training (data_batch_1..5.bin) or test
// (test_batch.bin) split from dir, the folder holding cifar-10-batches-bin
// (or that folder itself).
func LoadCIFAR10(dir string, split Split) (*Images, error) {
	if _, err := os.Stat(filepath.Join(dir, cifarSubDir)); err == nil {
		dir = filepath.Join(dir, cifarSubDir)
	}
	var files []string
	switch split {
	case Train:
		for i := 1; i <= 5; i++ {
			files = append(files, fmt.Sprintf("data_batch_%d.bin", i))
		}
	case Test:
		files = []string{"test_batch.bin"}
	default:
		return nil, fmt.Errorf("unknown CIFAR-10 split %q: valid values are train, test", split)
	}
	all := &Images{H: cifarSide, W: cifarSide, C: 3}
	for _, name := range files {
		f, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			return nil, fmt.Errorf("CIFAR-10 %s: %w (download it with DownloadCIFAR10, or ddpm train -data cifar10 -download)", split, err)
		}
		im, err := ReadCIFAR10(f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", filepath.Join(dir, name), err)
		}
		all.N += im.N
		all.Pixels = append(all.Pixels, im.Pixels...)
		all.Labels = append(all.Labels, im.Labels...)
	}
	return all, nil
}

// DownloadCIFAR10 fetches the CIFAR-10 binary archive into dir, checks its
// SHA-256, and unpacks cifar-10-batches-bin. It does nothing when the batch
// files are already there. The archive is written to a temporary file and
// renamed only once its checksum matches, so an interrupted or corrupted
// download never passes for a good one.
func DownloadCIFAR10(dir string, log io.Writer) error {
	if _, err := os.Stat(filepath.Join(dir, cifarSubDir, "test_batch.bin")); err == nil {
		return nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	archive := filepath.Join(dir, cifarArchive)
	if err := verifySHA256(archive, CIFAR10SHA256); err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(log, "CIFAR-10: %v; downloading again\n", err)
		}
		if err := download(CIFAR10URL, archive, CIFAR10SHA256, log); err != nil {
			return err
		}
	}
	return untarGz(archive, dir, cifarSubDir)
}

func verifySHA256(path, want string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("%s has SHA-256 %s, want %s", path, got, want)
	}
	return nil
}

// download streams url into path through a temporary file, checking the SHA-256.
func download(url, path, wantSHA string, log io.Writer) error {
	client := &http.Client{Timeout: 30 * time.Minute}
	fmt.Fprintf(log, "downloading %s (%d MB)\n", url, cifarArchiveSz>>20)
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("downloading %s: %w (are you offline? put %s in %s by hand)", url, err, cifarArchive, filepath.Dir(path))
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("downloading %s: HTTP %s", url, resp.Status)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".download-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), resp.Body); err != nil {
		tmp.Close()
		return fmt.Errorf("downloading %s: %w", url, err)
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != wantSHA {
		return fmt.Errorf("downloaded %s has SHA-256 %s, want %s: the download is corrupt or the file changed upstream", url, got, wantSHA)
	}
	return os.Rename(tmp.Name(), path)
}

// untarGz extracts the regular files under prefix/ of a .tar.gz into dir,
// refusing any path that would leave dir.
func untarGz(archive, dir, prefix string) error {
	f, err := os.Open(archive)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("%s: %w", archive, err)
	}
	tr := tar.NewReader(zr)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", archive, err)
		}
		name := filepath.Clean(h.Name)
		if h.Typeflag != tar.TypeReg || !filepath.IsLocal(name) || filepath.Dir(name) != prefix {
			continue
		}
		out := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		tmp := out + ".part"
		w, err := os.Create(tmp)
		if err != nil {
			return err
		}
		if _, err := io.Copy(w, io.LimitReader(tr, 1<<30)); err != nil {
			w.Close()
			return fmt.Errorf("%s: %w", archive, err)
		}
		if err := w.Close(); err != nil {
			return err
		}
		if err := os.Rename(tmp, out); err != nil {
			return err
		}
	}
}
