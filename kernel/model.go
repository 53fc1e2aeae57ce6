package kernel

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/checkpoint"
	"github.com/diffusion-go/ddpm/data"
	"github.com/diffusion-go/ddpm/eval"
	"github.com/diffusion-go/ddpm/pretrained"
	"github.com/diffusion-go/ddpm/train"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// ModelEnv names the environment variable that points the notebooks at the
// reader's own model: a run folder (its newest checkpoint) or a .ddpm file.
// Unset, they use the shipped MNIST model.
const ModelEnv = "DDPM_MODEL"

// NotebookModel loads the model the notebooks sample from (see ModelEnv),
// with a sentence that says which one it is and how it was trained.
func NotebookModel() (*train.Trained, string, error) {
	where := strings.TrimSpace(os.Getenv(ModelEnv))
	if where == "" {
		tm, err := pretrained.MNIST()
		if err != nil {
			return nil, "", err
		}
		p, err := pretrained.MNISTProvenance()
		if err != nil {
			return nil, "", err
		}
		return tm, fmt.Sprintf("the shipped MNIST model (%d steps of batch %d, %s images seen, %.1f epochs; %s=<run folder or .ddpm file> uses another)",
			p.Steps, tm.Config.BatchSize, thousands(p.ImagesSeen), p.Epochs, ModelEnv), nil
	}
	path := where
	if st, err := os.Stat(where); err == nil && st.IsDir() {
		paths, err := checkpoint.List(where)
		if err != nil {
			return nil, "", err
		}
		if len(paths) == 0 {
			return nil, "", fmt.Errorf("%s=%s: no checkpoint (ckpt-*.ddpm) in that folder", ModelEnv, where)
		}
		path = paths[len(paths)-1]
	}
	tm, err := train.LoadTrained(path, true)
	if err != nil {
		return nil, "", fmt.Errorf("%s=%s: %w", ModelEnv, where, err)
	}
	return tm, fmt.Sprintf("%s (%d steps of batch %d), from %s", path, tm.Step, tm.Config.BatchSize, ModelEnv), nil
}

func thousands(n int64) string {
	s := fmt.Sprint(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// ProgressiveGrid lays out the snapshots of the first n images of a
// sampling run: for each image a row of x_t and a row of the predicted x_0,
// one column per snapshot, captioned with its t. Images are h x w x c.
func ProgressiveGrid(snaps []ddpm.Snapshot, n, h, w, c, zoom int) ([]byte, error) {
	if len(snaps) == 0 {
		return nil, fmt.Errorf("progressive grid: no snapshots")
	}
	per := h * w * c
	var px []float32
	var rows, cols []string
	for _, s := range snaps {
		cols = append(cols, fmt.Sprintf("t=%d", s.T))
	}
	for i := range n {
		for _, which := range []func(ddpm.Snapshot) *tensors.Tensor{
			func(s ddpm.Snapshot) *tensors.Tensor { return s.XT },
			func(s ddpm.Snapshot) *tensors.Tensor { return s.PredX0 },
		} {
			for _, s := range snaps {
				f := Floats(which(s))
				if len(f) < n*per {
					return nil, fmt.Errorf("progressive grid: %d values for %d images of %d", len(f), n, per)
				}
				px = append(px, f[i*per:(i+1)*per]...)
			}
		}
		rows = append(rows, "x_t", "pred x_0")
	}
	return LabeledGrid(px, 2*n, len(snaps), h, w, c, zoom, cols, rows)
}

// InterpolationGrid lays out an interpolation (ddpm.Sampler.Interpolate's
// result, lambda-major) with one row per pair: image a, the decoded mixtures
// for each lambda, image b; the columns captioned with lambda.
func InterpolationGrid(a, b []float32, mixed *tensors.Tensor, pairs int, lambdas []float64, h, w, c, zoom int) ([]byte, error) {
	per := h * w * c
	flat := Floats(mixed)
	if len(a) != pairs*per || len(b) != pairs*per || len(flat) != len(lambdas)*pairs*per {
		return nil, fmt.Errorf("interpolation grid: %d, %d and %d values for %d pairs and %d mixtures of %d", len(a), len(b), len(flat), pairs, len(lambdas), per)
	}
	cols := []string{"a"}
	for _, l := range lambdas {
		cols = append(cols, fmt.Sprintf("%.3g", l))
	}
	cols = append(cols, "b")
	var px []float32
	for p := range pairs {
		px = append(px, a[p*per:(p+1)*per]...)
		for k := range lambdas {
			px = append(px, flat[(k*pairs+p)*per:(k*pairs+p+1)*per]...)
		}
		px = append(px, b[p*per:(p+1)*per]...)
	}
	return LabeledGrid(px, pairs, len(lambdas)+2, h, w, c, zoom, cols, nil)
}

// ClassifierPaths are where NotebookClassifier looks for the MNIST
// classifier, from a notebook's folder: the one `ddpm classifier` writes at
// the repository's root, then the one-epoch classifier a notebook trained
// before.
var ClassifierPaths = []string{"../runs/classifier/mnist.ddpm", "runs/classifier-1epoch.ddpm"}

// NotebookClassifier loads the MNIST classifier whose features measure
// sample quality (see ClassifierPaths), or trains one for a single epoch
// (about 98.7% test accuracy, a few minutes on 2 cores) and keeps it at the
// last of ClassifierPaths.
func NotebookClassifier(b backends.Backend) (*eval.Classifier, error) {
	for _, p := range ClassifierPaths {
		if _, err := os.Stat(p); err == nil {
			return eval.LoadClassifier(b, p)
		}
	}
	trainSet, err := data.LoadMNIST("", data.Train)
	if err != nil {
		return nil, err
	}
	test, err := data.LoadMNIST("", data.Test)
	if err != nil {
		return nil, err
	}
	cfg := eval.DefaultClassifierConfig()
	cfg.Epochs = 1
	c, err := eval.TrainClassifier(b, cfg, trainSet, test, nil)
	if err != nil {
		return nil, err
	}
	keep := ClassifierPaths[len(ClassifierPaths)-1]
	if err := os.MkdirAll(filepath.Dir(keep), 0o755); err != nil {
		return nil, err
	}
	return c, c.Save(keep)
}
