// Package pretrained ships a DDPM trained on MNIST by this project's own
// code, so that sampling, evaluation and the notebooks show digits on a
// fresh machine with no network and no training. The model file is embedded
// in the program; its SHA-256 is checked before it is used. How it was
// trained (command, steps, images seen, wall time, machine, commit) is in
// its provenance (MNISTProvenance) and in README.md beside it; its
// evaluation report is mnist-eval.json.
//
// Only programs that import this package carry the file (about 4.5 MB).
package pretrained

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/diffusion-go/ddpm/checkpoint"
	"github.com/diffusion-go/ddpm/train"
)

//go:embed mnist.ddpm
var mnistFile []byte

// MNISTSHA256 is the SHA-256 of the shipped MNIST model file.
const MNISTSHA256 = "e824f277a9a11d1dfebdfd29bfb50b5ba75386a6523f8533427f093a59ce0eb7"

// MNISTName is how messages and reports name the shipped model.
const MNISTName = "pretrained:mnist"

// MNIST returns the shipped MNIST model (its run's EMA weights), checked
// against MNISTSHA256.
func MNIST() (*train.Trained, error) {
	f, err := mnist()
	if err != nil {
		return nil, err
	}
	return train.TrainedFromFile(f, true)
}

// MNISTProvenance says how the shipped model was trained.
func MNISTProvenance() (train.Provenance, error) {
	var p train.Provenance
	f, err := mnist()
	if err != nil {
		return p, err
	}
	if err := json.Unmarshal(f.Provenance, &p); err != nil {
		return p, fmt.Errorf("%s: provenance: %w", MNISTName, err)
	}
	return p, nil
}

// mnist decodes the embedded file once per process (MNIST and
// MNISTProvenance both need it); every model returned shares its tensors,
// which sampling and evaluation only read.
func mnist() (*checkpoint.File, error) {
	mnistOnce.Do(func() { mnistDecoded, mnistErr = decodeChecked(mnistFile, MNISTSHA256, MNISTName) })
	return mnistDecoded, mnistErr
}

var (
	mnistOnce    sync.Once
	mnistDecoded *checkpoint.File
	mnistErr     error
)

// decodeChecked decodes an embedded model file after checking its SHA-256.
func decodeChecked(b []byte, want, name string) (*checkpoint.File, error) {
	sum := sha256.Sum256(b)
	if got := hex.EncodeToString(sum[:]); got != want {
		return nil, fmt.Errorf("%s: the embedded model file has SHA-256 %s, want %s (the file was replaced without updating MNISTSHA256)", name, got, want)
	}
	f, err := checkpoint.Decode(b, name)
	if err != nil {
		return nil, err
	}
	if f.Kind != checkpoint.Model {
		return nil, fmt.Errorf("%s holds a %s, not a model", name, f.Kind)
	}
	return f, nil
}
