package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/data"
	"github.com/diffusion-go/ddpm/eval"
)

func runEval(args []string, stdout io.Writer) error {
	fs := newFlagSet("eval", `Evaluates a checkpoint (EMA weights unless -raw).

Likelihood: the variational bound in bits/dim on test images, either the full
chain (T denoiser passes per batch, with every per-timestep term) or, with
-strata K, an unbiased estimate from K+1 passes with its standard error.

Sample quality (-samples N): N samples are drawn and compared with the test
set in the feature space of an MNIST classifier (train it once with
ddpm classifier): Frechet distance to the statistics of all 10,000 test
digits, precision and recall (k = 3) against N test digits, and the
classifier's label entropies and score. -baselines adds the same numbers for
N test digits held out from the reference (every (10,000/N)-th, against the
other test digits: the floor a model can reach at this N), N real training
digits (which the classifier was trained on; good samples can score below
them) and N images of uniform noise.

Examples:
  ddpm eval -dir runs/mnist -n 256 -json > eval.json
  ddpm eval -dir runs/mnist -strata 20 -n 1024
  ddpm eval -dir runs/mnist -bpd=false -samples 256 -baselines`)
	mf := addModelFlags(fs)
	doBPD := fs.Bool("bpd", true, "measure bits/dim")
	n := fs.Int("n", 256, "number of test images for bits/dim")
	strata := fs.Int("strata", 0, "estimate bits/dim from this many timestep strata instead of all T terms (0: full chain)")
	batch := fs.Int("batch", 128, "images per batch")
	seed := fs.Int64("seed", 1, "seed of the noise draws and of the samples")
	sf := addSamplerFlags(fs, "clip the predicted x_0 to [-1, 1] (in the bound, as improved-diffusion evaluates, and when sampling)")
	asJSON := fs.Bool("json", false, "print the full report as JSON")
	dataset := fs.String("data", "mnist", `test data: "mnist" (the 10,000 test digits), "cifar10" (the test batch in -data-dir), or "folder:PATH"`)
	dataDir := fs.String("data-dir", defaultDataDir(), "folder of downloaded datasets")
	samples := fs.Int("samples", 0, "draw this many samples and measure their quality (0: none)")
	classifierPath := fs.String("classifier", defaultClassifier, "MNIST classifier for the sample-quality features")
	withBaselines := fs.Bool("baselines", false, "also measure held-out test digits, real training digits and noise (with -samples)")
	grid := fs.String("grid", "", "write the first 64 samples as a PNG grid")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 2 || *batch < 1 || *strata < 0 || *samples < 0 {
		return fmt.Errorf("-n must be at least 2 (for a standard error), -batch positive, -strata and -samples not negative")
	}
	if !*doBPD && *samples == 0 {
		return fmt.Errorf("nothing to measure: -bpd=false and no -samples")
	}
	if *withBaselines && *samples == 0 {
		return fmt.Errorf("-baselines needs -samples N (the baselines use N images)")
	}
	info := io.Writer(stdout)
	if *asJSON {
		info = os.Stderr
	}
	l, err := mf.load(info)
	if err != nil {
		return err
	}
	var classifier *eval.Classifier
	if *samples > 0 { // Fail before the long part if the classifier is missing.
		if classifier, err = eval.LoadClassifier(l.backend, *classifierPath); err != nil {
			return fmt.Errorf("sample quality needs the classifier: %w", err)
		}
		m := l.Config.Model
		if err := classifier.CanMeasure(*samples, m.ImageSize, m.InChannels); err != nil {
			return fmt.Errorf("-samples %d, classifier %s: %w", *samples, *classifierPath, err)
		}
	}
	test, err := loadData(*dataset, data.Test, l.Config.Model, *dataDir, false, info)
	if err != nil {
		return err
	}
	rep := eval.Report{Checkpoint: l.Path, Step: l.Step, Backend: l.backend.Name(), EMA: !*mf.raw, Precision: mf.precision.name, Variance: l.Diffusion.Variance.String()}
	if rep.Config, err = json.Marshal(l.Config); err != nil {
		return err
	}
	if *doBPD {
		bo := eval.BoundOptions{Batch: *batch, Strata: *strata, Seed: *seed, ClipX0: *sf.clip, Log: os.Stderr}
		if rep.BPD, err = eval.Bound(l.backend, l, test.Subset(*n), bo); err != nil {
			return err
		}
		rep.BPD.Description = "variational bound on the negative log-likelihood of the test images (" + *dataset + "), bits per dimension"
	}
	if *samples > 0 {
		opts := sf.options(*seed)
		var ref *eval.Reference
		if rep.Quality, ref, err = evalQuality(l, classifier, test, *samples, *batch, opts, *grid); err != nil {
			return err
		}
		if *withBaselines {
			trainSet, err := loadData(*dataset, data.Train, l.Config.Model, *dataDir, false, info)
			if err != nil {
				return err
			}
			if rep.Quality.Baselines, err = eval.MeasureBaselines(classifier, ref, trainSet, test, *samples, *seed); err != nil {
				return err
			}
		}
		rep.Quality.Classifier = *classifierPath
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	if b := rep.BPD; b != nil {
		how := "full chain"
		if b.Strata > 0 {
			how = fmt.Sprintf("estimate from %d strata", b.Strata)
		}
		how += fmt.Sprintf(", decoder L_0 %.4f", b.Decoder)
		fmt.Fprintf(stdout, "%s: %.4f ± %.4f bits/dim on %d test images (%s; prior %.2g) in %.0fs\n",
			filepath.Base(l.Path), b.BitsPerDim, b.StdErr, b.Images, how, b.Prior, b.Seconds)
	}
	if q := rep.Quality; q != nil {
		fmt.Fprintf(stdout, "sample quality of %d samples (%s, %.0fs) in the features of %s (test accuracy %.2f%%):\n",
			q.Samples.N, q.Sampler, q.SampleSeconds, q.Classifier, 100*q.ClassifierAccuracy)
		fmt.Fprintf(stdout, "  %-22s %10s %9s %7s %8s %8s %9s %9s\n", "", "Frechet", "precision", "recall", "density", "coverage", "H(y|x)", "score")
		row := func(name string, r eval.Quality) {
			fmt.Fprintf(stdout, "  %-22s %10.3f %9.3f %7.3f %8.3f %8.3f %9.3f %9.2f\n", name, r.Frechet, r.Precision, r.Recall, r.Density, r.Coverage, r.Labels.Entropy, r.Labels.Score)
		}
		row("samples", q.Samples)
		if q.Baselines != nil {
			for _, b := range q.Baselines.Rows() {
				row(b.Name, b.Quality)
			}
		}
	}
	return nil
}

// evalQuality draws n samples and measures them against the test set in the
// classifier's features, writing the first 64 to grid when it is set.
func evalQuality(l *loaded, c *eval.Classifier, test *data.Images, n, batch int, opts ddpm.SampleOptions, grid string) (*eval.QualityReport, *eval.Reference, error) {
	ref, err := eval.TestReference(c, test, n)
	if err != nil {
		return nil, nil, fmt.Errorf("-samples %d: %w", n, err)
	}
	size, ch := l.Config.Model.ImageSize, l.Config.Model.InChannels
	q, pixels, err := eval.SampleQuality(l.backend, l, c, ref, size, ch, eval.QualityOptions{N: n, Batch: batch, Sample: opts, Log: os.Stderr})
	if err != nil {
		return nil, nil, err
	}
	if grid != "" {
		k := min(n, 64)
		if err := writeGrid(grid, pixels[:k*size*size*ch], k, size, ch, 8, 2); err != nil {
			return nil, nil, err
		}
	}
	return q, ref, nil
}
