// Command report executes the notebooks headless with the GoNB kernel and
// exports each to an HTML report. It exits non-zero when any cell failed,
// including cells whose program panicked or exited non-zero (which nbconvert
// itself does not notice).
//
//	go run ./kernel/cmd/report [-reports reports] [notebooks/01_forward.ipynb ...]
//
// scripts/main.sh installs Jupyter, GoNB and the PJRT plugin first.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"time"

	"github.com/diffusion-go/ddpm/kernel"
)

func main() {
	reports := flag.String("reports", "reports", "folder for the HTML reports")
	work := flag.String("work", ".cache/executed", "folder for the executed notebooks")
	jupyter := flag.String("jupyter", "", "jupyter executable (default: .cache/venv/bin/jupyter, else jupyter on PATH)")
	kernelName := flag.String("kernel", "gonb", "Jupyter kernel name")
	timeout := flag.Duration("timeout", 60*time.Minute, "time limit per cell")
	flag.Parse()
	notebooks := flag.Args()
	if len(notebooks) == 0 {
		notebooks, _ = filepath.Glob("notebooks/*.ipynb")
		sort.Strings(notebooks)
	}
	if len(notebooks) == 0 {
		fmt.Fprintln(os.Stderr, "report: no notebooks given and none in notebooks/")
		os.Exit(2)
	}
	if *jupyter == "" {
		*jupyter = ".cache/venv/bin/jupyter"
		if _, err := os.Stat(*jupyter); err != nil {
			path, err := exec.LookPath("jupyter")
			if err != nil {
				fmt.Fprintln(os.Stderr, "report: jupyter not found: run scripts/install-jupyter.sh, or pass -jupyter")
				os.Exit(2)
			}
			*jupyter = path
		}
	}
	if !filepath.IsAbs(*jupyter) && fileExists(*jupyter) { // nbconvert runs in the notebook's folder.
		if abs, err := filepath.Abs(*jupyter); err == nil {
			*jupyter = abs
		}
	}
	var env []string
	if os.Getenv("JUPYTER_DATA_DIR") == "" && fileExists(".cache/jupyter/kernels/gonb/kernel.json") {
		// The kernel that scripts/install-jupyter.sh registered for this checkout.
		abs, _ := filepath.Abs(".cache/jupyter")
		env = append(env, "JUPYTER_DATA_DIR="+abs)
	}
	failed := 0
	for _, nb := range notebooks {
		fmt.Printf("report: running %s\n", nb)
		res, err := kernel.RunNotebook(nb, kernel.RunOptions{Jupyter: *jupyter, Kernel: *kernelName,
			ReportDir: *reports, WorkDir: *work, Timeout: *timeout, Env: env})
		if err != nil {
			fmt.Fprintf(os.Stderr, "report: %s: %v\n", nb, err)
			failed++
			continue
		}
		if len(res.Failures) > 0 {
			failed++
			for _, f := range res.Failures {
				fmt.Fprintf(os.Stderr, "report: %s: cell %d failed: %s\n", nb, f.Cell, f.Message)
			}
		}
		images := 0
		if html, err := os.ReadFile(res.HTML); err == nil {
			images = kernel.CountEmbeddedImages(html)
		}
		fmt.Printf("report: %s -> %s (%d images, %d failed cells) in %s\n", nb, res.HTML, images, len(res.Failures), res.Elapsed.Round(time.Second))
	}
	if failed > 0 {
		fmt.Fprintf(os.Stderr, "report: %d of %d notebooks failed\n", failed, len(notebooks))
		os.Exit(1)
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
