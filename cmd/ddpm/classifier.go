package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/diffusion-go/ddpm/data"
	"github.com/diffusion-go/ddpm/eval"
)

// defaultClassifier is where ddpm classifier writes and ddpm eval looks.
const defaultClassifier = "runs/classifier/mnist.ddpm"

func runClassifier(args []string, stdout io.Writer) error {
	fs := newFlagSet("classifier", `Trains the MNIST classifier whose features the sample-quality metrics of
ddpm eval use (Frechet distance, precision and recall, label entropy), and
reports its accuracy on the 10,000 test digits. The same seed gives the same
classifier.

Example: ddpm classifier -out runs/classifier/mnist.ddpm`)
	cfg := eval.DefaultClassifierConfig()
	out := fs.String("out", defaultClassifier, "classifier file to write")
	fs.IntVar(&cfg.Epochs, "epochs", cfg.Epochs, "passes over the 60,000 training digits")
	fs.IntVar(&cfg.BatchSize, "batch", cfg.BatchSize, "batch size")
	fs.Float64Var(&cfg.LearningRate, "lr", cfg.LearningRate, "Adam learning rate")
	fs.Int64Var(&cfg.Seed, "seed", cfg.Seed, "seed of initialisation, data order and dropout")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	b, err := backend.New()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ddpm:", backend.Describe(b))
	trainSet, err := data.LoadMNIST("", data.Train)
	if err != nil {
		return err
	}
	test, err := data.LoadMNIST("", data.Test)
	if err != nil {
		return err
	}
	start := time.Now()
	c, err := eval.TrainClassifier(b, cfg, trainSet, test, func(step, total int, loss float64) {
		if step%50 == 0 || step == total {
			fmt.Fprintf(os.Stderr, "\rclassifier: step %d/%d, loss %.4f, %.0fs", step, total, loss, time.Since(start).Seconds())
		}
	})
	fmt.Fprintln(os.Stderr)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*out), 0o755); err != nil {
		return err
	}
	if err := c.Save(*out); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: test accuracy %.2f%% on %d digits, trained in %.0fs\n", *out, 100*c.Config.TestAccuracy, test.N, time.Since(start).Seconds())
	if c.Config.TestAccuracy < 0.99 {
		fmt.Fprintf(stdout, "warning: accuracy below 99%%: train longer (-epochs) for features the metrics can rely on\n")
	}
	return nil
}
