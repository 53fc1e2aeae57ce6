package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/diffusion-go/ddpm/ddpm"
	"github.com/diffusion-go/ddpm/ddpm/data"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// evalReport is the JSON output of ddpm eval.
type evalReport struct {
	Checkpoint  string    `json:"checkpoint"`
	Step        int64     `json:"step"`
	Images      int       `json:"images"`
	BitsPerDim  float64   `json:"bits_per_dim"`
	StdErr      float64   `json:"bits_per_dim_stderr"`
	Prior       float64   `json:"prior_bits_per_dim"`
	Decoder     float64   `json:"decoder_bits_per_dim"` // L_0
	TermsPerT   []float64 `json:"vb_terms_per_t"`       // mean L_t, t = 0..T-1
	MSEPerT     []float64 `json:"eps_mse_per_t"`
	X0MSEPerT   []float64 `json:"x0_mse_per_t"`
	Seconds     float64   `json:"seconds"`
	Backend     string    `json:"backend"`
	EMA         bool      `json:"ema"`
	ClipX0      bool      `json:"clip_x0"`
	Description string    `json:"description"`
}

func runEval(args []string, stdout io.Writer) error {
	fs := newFlagSet("eval", `Evaluates a checkpoint: the full-chain variational bound in bits/dim on test
images (T denoiser passes per batch), with every per-timestep term.

Example: ddpm eval -dir runs/mnist -n 256 -json > eval.json`)
	dir := fs.String("dir", "", "run folder: its newest checkpoint is used")
	ckpt := fs.String("ckpt", "", "checkpoint file (instead of -dir)")
	n := fs.Int("n", 256, "number of test images")
	batch := fs.Int("batch", 128, "images per batch")
	seed := fs.Int64("seed", 1, "seed of the noise draws")
	raw := fs.Bool("raw", false, "use the raw weights instead of their EMA")
	clip := fs.Bool("clip", true, "clip the predicted x_0 to [-1, 1] (as improved-diffusion evaluates)")
	asJSON := fs.Bool("json", false, "print the full report as JSON")
	dataset := fs.String("data", "mnist", `test data: "mnist" (the 10,000 test digits), "cifar10" (the test batch in -data-dir), or "folder:PATH"`)
	dataDir := fs.String("data-dir", defaultDataDir(), "folder of downloaded datasets")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 1 || *batch < 1 {
		return fmt.Errorf("-n and -batch must be positive")
	}
	info := io.Writer(stdout)
	if *asJSON {
		info = os.Stderr
	}
	l, err := load(*ckpt, *dir, !*raw, info)
	if err != nil {
		return err
	}
	test, err := loadData(*dataset, data.Test, l.Config.Model, *dataDir, false, info)
	if err != nil {
		return err
	}
	test = test.Subset(*n)
	start := time.Now()
	var totals, priors, vb0 []float64
	T := l.Config.T
	sumVB, sumMSE, sumX0 := make([]float64, T), make([]float64, T), make([]float64, T)
	per := test.H * test.W * test.C
	all := test.Float()
	for b0 := 0; b0 < test.N; b0 += *batch {
		b1 := min(b0+*batch, test.N)
		x0 := tensors.FromFlatDataAndDimensions(all[b0*per:b1*per], b1-b0, test.H, test.W, test.C)
		res, err := l.BPD(l.backend, x0, ddpm.BPDOptions{
			Seed: *seed + int64(b0), ClipX0: *clip,
			Progress: func(done, total int) {
				if done%100 == 0 || done == total {
					fmt.Fprintf(os.Stderr, "\reval: images %d-%d of %d, timestep %d/%d", b0+1, b1, test.N, done, total)
				}
			},
		})
		if err != nil {
			return err
		}
		totals = append(totals, res.Total...)
		priors = append(priors, res.Prior...)
		vb0 = append(vb0, res.VB[0]...)
		for t := range T {
			for i := range res.VB[t] {
				sumVB[t] += res.VB[t][i]
				sumMSE[t] += res.MSE[t][i]
				sumX0[t] += res.X0MSE[t][i]
			}
		}
	}
	fmt.Fprintln(os.Stderr)
	m, se := meanStdErr(totals)
	for t := range T {
		sumVB[t] /= float64(test.N)
		sumMSE[t] /= float64(test.N)
		sumX0[t] /= float64(test.N)
	}
	rep := evalReport{Checkpoint: l.Path, Step: stepOf(l.Path), Images: test.N, BitsPerDim: m, StdErr: se,
		Prior: mean(priors), Decoder: mean(vb0), TermsPerT: sumVB, MSEPerT: sumMSE, X0MSEPerT: sumX0,
		Seconds: time.Since(start).Seconds(), Backend: l.backend.Name(), EMA: !*raw, ClipX0: *clip,
		Description: "variational bound on the negative log-likelihood of the test images (" + *dataset + "), bits per dimension"}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	fmt.Fprintf(stdout, "%s: %.4f ± %.4f bits/dim on %d test images (prior %.2g, decoder L_0 %.4f) in %.0fs\n",
		filepath.Base(l.Path), m, se, test.N, rep.Prior, rep.Decoder, rep.Seconds)
	return nil
}

func stepOf(path string) int64 {
	var s int64
	fmt.Sscanf(filepath.Base(path), "ckpt-%d.ddpm", &s)
	return s
}

func mean(xs []float64) float64 {
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

func meanStdErr(xs []float64) (float64, float64) {
	m := mean(xs)
	if len(xs) < 2 {
		return m, math.NaN()
	}
	v := 0.0
	for _, x := range xs {
		v += (x - m) * (x - m)
	}
	return m, math.Sqrt(v/float64(len(xs)-1)) / math.Sqrt(float64(len(xs)))
}
