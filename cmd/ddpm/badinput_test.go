package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/png"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/data"
)

// TestBadInputs feeds the command bad files and bad values, one kind at a
// time: each must end with a non-zero exit and a message that names the
// problem, never a panic, and must leave every input file as it was. The
// README's table of faults lists the same cases.
func TestBadInputs(t *testing.T) {
	root := t.TempDir()
	mk := func(rel string, content []byte) string {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	dirOf := func(rel string) string { return filepath.Dir(filepath.Join(root, rel)) }
	var goodPNG bytes.Buffer
	_ = png.Encode(&goodPNG, image.NewGray(image.Rect(0, 0, 8, 8)))
	idx := func(magic uint32, dims ...uint32) []byte {
		var b bytes.Buffer
		_ = binary.Write(&b, binary.BigEndian, magic)
		for _, d := range dims {
			_ = binary.Write(&b, binary.BigEndian, d)
		}
		return b.Bytes()
	}
	gz := func(b []byte) []byte {
		var out bytes.Buffer
		w := gzip.NewWriter(&out)
		w.Write(b)
		w.Close()
		return out.Bytes()
	}

	mk("empty-folder/readme.txt", []byte("no images here"))
	mk("empty-png/a.png", nil)
	mk("text-png/a.png", []byte("this is not a PNG"))
	mk("huge-png/a.png", hugePNGHeader())
	mk("ok-png/a.png", goodPNG.Bytes())
	emptyCkpt := mk("ckpt/empty.ddpm", nil)
	magicCkpt := mk("ckpt/magic.ddpm", []byte("NOTACKPT\x01\x00\x00\x00"))
	craftedName := mk("ckpt/crafted.ddpm", craftedV1Name("noslash"))
	hugeHeader := mk("ckpt/huge-header.ddpm", append([]byte("DDPMCKPT\x01\x00\x00\x00"), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f))
	// MNIST folders: empty files, a wrong magic number, and a header that
	// claims 2^31 images of 65536 x 65536 pixels.
	mk("mnist-empty/train-images-idx3-ubyte", nil)
	mk("mnist-empty/train-labels-idx1-ubyte", nil)
	mk("mnist-magic/train-images-idx3-ubyte.gz", gz(idx(0x00000802, 1, 28, 28)))
	mk("mnist-magic/train-labels-idx1-ubyte.gz", gz(idx(0x00000801, 1)))
	mk("mnist-huge/train-images-idx3-ubyte", idx(0x00000803, 1<<31, 1<<16, 1<<16))
	mk("mnist-huge/train-labels-idx1-ubyte", idx(0x00000801, 1))
	mk("cifar-empty/data_batch_1.bin", nil)

	cases := []struct {
		name    string
		env     string // DDPM_MNIST_DIR for the case
		args    []string
		mention string
	}{
		{"folder without images", "", []string{"train", "-preset", "tiny", "-dir", root + "/r1", "-data", "folder:" + dirOf("empty-folder/x")}, "has no .png"},
		{"empty PNG file", "", []string{"train", "-preset", "tiny", "-dir", root + "/r2", "-data", "folder:" + dirOf("empty-png/x")}, "a.png"},
		{"text named .png", "", []string{"train", "-preset", "tiny", "-dir", root + "/r3", "-data", "folder:" + dirOf("text-png/x")}, "a.png: image: unknown format"},
		{"PNG header claiming 10^10 pixels", "", []string{"train", "-preset", "tiny", "-dir", root + "/r4", "-data", "folder:" + dirOf("huge-png/x")}, "larger than"},
		{"missing folder", "", []string{"train", "-preset", "tiny", "-dir", root + "/r5", "-data", "folder:" + root + "/nowhere"}, "no such file"},
		{"empty checkpoint", "", []string{"sample", "-ckpt", emptyCkpt}, "damaged or not a checkpoint"},
		{"wrong checkpoint magic", "", []string{"sample", "-ckpt", magicCkpt}, `no "DDPMCKPT" magic`},
		{"checkpoint header length 2^63", "", []string{"eval", "-ckpt", hugeHeader}, "does not fit"},
		{"empty MNIST files", dirOf("mnist-empty/x"), []string{"train", "-dir", root + "/r6"}, "IDX"},
		{"wrong IDX magic", dirOf("mnist-magic/x"), []string{"train", "-dir", root + "/r7"}, "magic number"},
		{"IDX header claiming 2^63 pixels", dirOf("mnist-huge/x"), []string{"train", "-dir", root + "/r8"}, "IDX"},
		{"empty CIFAR-10 batch", "", []string{"train", "-preset", "cifar10", "-dir", root + "/r9", "-data-dir", dirOf("cifar-empty/x")}, "CIFAR-10"},
		{"eval of an empty checkpoint", "", []string{"eval", "-ckpt", emptyCkpt, "-samples", "8"}, "damaged or not a checkpoint"},
		{"negative batch", "", []string{"train", "-dir", root + "/r10", "-batch", "-4"}, "batch size -4"},
		{"huge batch", "", []string{"train", "-dir", root + "/r11", "-batch", "1000000000"}, "batch size 1000000000"},
		{"huge channel count", "", []string{"train", "-dir", root + "/r12", "-channels", "100000000", "-groups", "1"}, "too large"},
		{"T too small for linear betas", "", []string{"train", "-dir", root + "/r13", "-T", "10"}, "T=10"},
		{"NaN learning rate", "", []string{"train", "-dir", root + "/r14", "-lr", "NaN"}, "learning rate NaN"},
		{"infinite learning rate", "", []string{"train", "-dir", root + "/r15", "-lr", "Inf"}, "learning rate +Inf"},
		{"NaN dropout", "", []string{"train", "-dir", root + "/r16", "-dropout", "NaN"}, "dropout NaN"},
		{"NaN EMA decay", "", []string{"train", "-dir", root + "/r17", "-ema", "NaN"}, "EMA decay NaN"},
		{"min-SNR with the bound", "", []string{"train", "-dir", root + "/r20", "-loss", "vlb", "-min-snr", "5"}, "use loss simple or hybrid"},
		{"unknown precision", "", []string{"sample", "-precision", "float8"}, "valid values are float32, bfloat16, bfloat16-activations"},
		{"bench precision not bfloat16", "", []string{"bench", "-bf16-precision", "float32"}, "valid values are bfloat16, bfloat16-activations"},
		{"unknown training precision", "", []string{"train", "-dir", root + "/r24", "-precision", "float16"}, "-precision: unknown precision"},
		{"zero devices", "", []string{"train", "-dir", root + "/r22", "-devices", "0"}, `-devices "0": want a positive number or "all"`},
		{"more devices than there are", "", []string{"train", "-dir", root + "/r23", "-devices", "999", "-steps", "1"}, "999 devices asked for, but the backend"},
		{"MNIST for a colour model", "", []string{"train", "-preset", "cifar10", "-dir", root + "/r25", "-data", "mnist"}, "has 28x28x1 images but the model takes 32x32x3"},
		{"negative min-SNR gamma", "", []string{"train", "-dir", root + "/r21", "-min-snr", "-1"}, "min-SNR gamma -1"},
		{"unknown schedule", "", []string{"train", "-dir", root + "/r18", "-schedule", "sigmoid"}, "valid names are linear, cosine, quadratic"},
		{"unknown prediction", "", []string{"train", "-dir", root + "/r19", "-prediction", "score"}, "valid values are eps, x0, v, mean"},
		{"unknown sampler", "", []string{"sample", "-ckpt", emptyCkpt, "-method", "euler"}, "valid values are ddpm, ddim"},
		{"zero images", "", []string{"sample", "-ckpt", emptyCkpt, "-n", "0"}, "must be positive"},
		{"unknown bench preset", "", []string{"bench", "-presets", "imagenet"}, "valid presets are"},
		{"eval with nothing to measure", "", []string{"eval", "-ckpt", emptyCkpt, "-bpd=false"}, "nothing to measure"},
		{"crafted variable name", "", []string{"sample", "-ckpt", craftedName}, `does not start with "/"`},
		{"missing run folder", "", []string{"sample", "-dir", root + "/nowhere"}, "run folder " + root + "/nowhere: stat"},
		{"10^8 samples", "", []string{"sample", "-n", "100000000"}, "more than the 67108864 allowed"},
		{"negative eta", "", []string{"sample", "-method", "ddim", "-eta", "-1"}, "DDIM's eta -1: must lie in [0, 1]"},
		{"eta with ancestral sampling", "", []string{"sample", "-eta", "0.5"}, "eta 0.5 applies to DDIM only"},
		{"solver steps 0", "", []string{"sample", "-method", "dpm-solver++", "-steps", "0"}, "an integer in [1, 1000]"},
		{"spacing with DDIM", "", []string{"sample", "-method", "ddim", "-spacing", "logsnr"}, "applies to the solvers"},
		{"unknown spacing", "", []string{"sample", "-method", "heun", "-spacing", "cubic"}, "valid values are default, time, logsnr, karras"},
		{"unknown variance", "", []string{"sample", "-variance", "fixed-medium"}, "-variance: unknown"},
		{"learned variance for a fixed-variance model", "", []string{"eval", "-variance", "learned-range", "-n", "2"}, "only a fixed variance can be exchanged"},
		{"raw weights of the shipped model", "", []string{"sample", "-raw"}, "-raw needs a training checkpoint"},
		{"export without output", "", []string{"export", "-ckpt", emptyCkpt}, "-out is required"},
		{"export of a damaged checkpoint", "", []string{"export", "-ckpt", emptyCkpt, "-out", root + "/m.ddpm"}, "damaged or not a checkpoint"},
	}
	hashes := func() map[string][32]byte {
		out := map[string][32]byte{}
		_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				b, _ := os.ReadFile(p)
				out[p] = sha256.Sum256(b)
			}
			return nil
		})
		return out
	}
	before := hashes()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Setenv(data.MNISTDirEnv, c.env)
			code, _, stderr := runCLI(c.args...)
			if code == 0 || !strings.Contains(stderr, c.mention) {
				t.Errorf("ddpm %s: exit %d, stderr %q; want an error mentioning %q", strings.Join(c.args, " "), code, stderr, c.mention)
			}
			t.Logf("exit %d: %s", code, strings.SplitN(stderr, "\n", 2)[0])
			if strings.Contains(stderr, "goroutine ") || strings.Contains(stderr, "panic:") {
				t.Errorf("ddpm %s panicked: %s", strings.Join(c.args, " "), stderr)
			}
		})
	}
	after := hashes()
	for p, h := range before {
		if after[p] != h {
			t.Errorf("%s changed", p)
		}
	}
}

// hugePNGHeader is the start of a PNG whose header claims 100000 x 100000
// pixels (with a valid checksum); no pixel data follows.
func hugePNGHeader() []byte {
	var b bytes.Buffer
	_ = png.Encode(&b, image.NewGray(image.Rect(0, 0, 1, 1)))
	raw := b.Bytes()
	binary.BigEndian.PutUint32(raw[16:], 100000)
	binary.BigEndian.PutUint32(raw[20:], 100000)
	binary.BigEndian.PutUint32(raw[29:], crc32IEEE(raw[12:29]))
	return raw
}

func crc32IEEE(b []byte) uint32 { return crc32.ChecksumIEEE(b) }

// craftedV1Name is a version 1 checkpoint (whose checksum covers only the
// payload) with a valid checksum and one tensor of the given name.
func craftedV1Name(name string) []byte {
	payload := make([]byte, 8)
	sum := sha256.Sum256(payload)
	h := fmt.Sprintf(`{"step":1,"config":{},"payload_sha256":"%x","tensors":[{"name":%q,"dtype":"Float32","dims":[2],"offset":0,"length":8}]}`, sum, name)
	b := []byte("DDPMCKPT")
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(h)))
	return append(append(b, h...), payload...)
}
