package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/diffusion-go/ddpm/checkpoint"
	"github.com/diffusion-go/ddpm/train"
)

// mnistTrainImages is the size of MNIST's training set.
const mnistTrainImages = 60000

func runExport(args []string, stdout io.Writer) error {
	fs := newFlagSet("export", `Writes the EMA weights of a training checkpoint as a model file: what sampling
and evaluation need, with the run's configuration and how it was made, without
optimizer state (a quarter of the checkpoint's size). ddpm sample and eval take
it with -ckpt.

Example: ddpm export -dir runs/mnist -out mnist.ddpm -command "ddpm train -preset mnist -dir runs/mnist"`)
	dir := fs.String("dir", "", "run folder: its newest checkpoint is exported")
	ckpt := fs.String("ckpt", "", "checkpoint file (instead of -dir)")
	out := fs.String("out", "", "model file to write (required)")
	command := fs.String("command", "", "the training command line, for the provenance")
	wall := fs.Float64("wall-seconds", 0, "training wall time in seconds, for the provenance")
	notes := fs.String("notes", "", "free text for the provenance")
	commit := fs.String("commit", "", "commit of the code that trained the run, for the provenance (default: this checkout's)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("-out is required: the model file to write")
	}
	path, err := checkpointPath(*ckpt, *dir)
	if err != nil {
		return err
	}
	ck, err := checkpoint.Read(path)
	if err != nil {
		return err
	}
	prov := train.Provenance{Command: *command, Commit: *commit, Machine: machine(), WallSeconds: *wall, Source: filepath.Base(path), Notes: *notes}
	if prov.Commit == "" {
		prov.Commit = train.CheckoutCommit()
	}
	var cfg train.Config
	if tm, err := train.TrainedFromFile(ck, true); err == nil {
		cfg = tm.Config
	}
	if cfg.Preset == "mnist" {
		prov.Epochs = float64(ck.Step*int64(cfg.BatchSize)) / mnistTrainImages
	}
	if err := train.ExportModel(ck, *out, prov); err != nil {
		return err
	}
	f, err := checkpoint.Read(*out)
	if err != nil {
		return err
	}
	st, _ := os.Stat(*out)
	fmt.Fprintf(stdout, "wrote %s: step %d, %d tensors, %d bytes, SHA-256 %s\n", *out, f.Step, len(f.Vars), st.Size(), f.SHA256)
	return nil
}

// checkpointPath is -ckpt, or the newest checkpoint of -dir.
func checkpointPath(ckpt, dir string) (string, error) {
	if ckpt != "" {
		return ckpt, nil
	}
	if dir == "" {
		return "", fmt.Errorf("give -dir (a run folder) or -ckpt (a checkpoint file)")
	}
	if st, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("run folder %s: %w", dir, err)
	} else if !st.IsDir() {
		return "", fmt.Errorf("run folder %s is not a folder", dir)
	}
	paths, err := checkpoint.List(dir)
	if err != nil {
		return "", err
	}
	if len(paths) == 0 {
		return "", fmt.Errorf("no checkpoint (ckpt-*.ddpm) in %s: train first with ddpm train -dir %s", dir, dir)
	}
	return paths[len(paths)-1], nil
}
