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
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/diffusion-go/ddpm/kernel"
	"github.com/diffusion-go/ddpm/train"
)

func main() {
	reports := flag.String("reports", "reports", "folder for the HTML reports")
	work := flag.String("work", ".cache/executed", "folder for the executed notebooks")
	jupyter := flag.String("jupyter", "", "jupyter executable (default: .cache/venv/bin/jupyter, else jupyter on PATH)")
	kernelName := flag.String("kernel", kernel.KernelName, "Jupyter kernel name")
	timeout := flag.Duration("timeout", 60*time.Minute, "time limit per cell")
	mathjax := flag.String("mathjax", ".cache/mathjax", "MathJax 2 files to copy next to the reports, so that they render offline (scripts/install-jupyter.sh unpacks them); \"\" loads MathJax from the web")
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
	if os.Getenv("JUPYTER_DATA_DIR") == "" && fileExists(".cache/jupyter/kernels/"+kernel.KernelName+"/kernel.json") {
		// The kernel that scripts/install-jupyter.sh registered for this checkout.
		abs, _ := filepath.Abs(".cache/jupyter")
		env = append(env, "JUPYTER_DATA_DIR="+abs)
	}
	mathjaxURL := ""
	if *mathjax != "" {
		if err := copyMathJax(*mathjax, filepath.Join(*reports, "mathjax")); err != nil {
			fmt.Fprintf(os.Stderr, "report: %v: the reports will load MathJax from the web\n", err)
		} else {
			mathjaxURL = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe,local/ddpm"
		}
	}
	failed := 0
	var index []kernel.IndexEntry
	for _, nb := range notebooks {
		fmt.Printf("report: running %s\n", nb)
		res, err := kernel.RunNotebook(nb, kernel.RunOptions{Jupyter: *jupyter, Kernel: *kernelName,
			ReportDir: *reports, WorkDir: *work, Timeout: *timeout, Env: env, MathJaxURL: mathjaxURL})
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
		index = append(index, kernel.IndexEntry{Notebook: nb, HTML: res.HTML, Elapsed: res.Elapsed, Failed: len(res.Failures)})
	}
	if len(index) > 0 {
		info := kernel.IndexInfo{Size: "small", Backend: describeBackend(), Commit: commit(), Date: time.Now()}
		if os.Getenv("DDPM_FULL") != "" {
			info.Size = "full"
		}
		if n, err := kernel.UpdateIndex(*reports, info, index); err != nil {
			fmt.Fprintf(os.Stderr, "report: index: %v\n", err)
			failed++
		} else if n > len(index) {
			fmt.Printf("report: index of %d reports (%d of this run, %d of earlier runs still in the folder) in %s\n",
				n, len(index), n-len(index), filepath.Join(*reports, "index.html"))
		} else {
			fmt.Printf("report: index of %d reports in %s\n", n, filepath.Join(*reports, "index.html"))
		}
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

// offlineConfig points MathJax at the web font its Jupyter package ships
// (STIX-Web; the TeX fonts are not in it), so that no other font is looked for.
const offlineConfig = `MathJax.Hub.Config({"HTML-CSS": {availableFonts: [], preferredFont: null, webFont: "STIX-Web", imageFont: null}});
MathJax.Ajax.loadComplete("[MathJax]/config/local/ddpm.js");
`

// copyMathJax copies the MathJax files of src into dst, with offlineConfig
// as config/local/ddpm.js.
func copyMathJax(src, dst string) error {
	if err := copyDir(src, dst); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(dst, "config", "local"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dst, "config", "local", "ddpm.js"), []byte(offlineConfig), 0o644)
}

// copyDir copies the files of src into dst (made if needed).
func copyDir(src, dst string) error {
	if _, err := os.Stat(filepath.Join(src, "MathJax.js")); err != nil {
		return fmt.Errorf("no MathJax in %s (run scripts/install-jupyter.sh)", src)
	}
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		out := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(out, 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(out, b, 0o644)
	})
}

// describeBackend names the backend the notebooks' programs use.
func describeBackend() string {
	b, err := backend.New()
	if err != nil {
		return "unknown (" + err.Error() + ")"
	}
	return backend.Describe(b)
}

// commit is the checkout's short commit, with "+dirty" when it has changes.
func commit() string {
	c := train.CheckoutCommit()
	if c == "" {
		return "unknown"
	}
	hash, dirty, _ := strings.Cut(c, "+")
	if len(hash) > 7 {
		hash = hash[:7]
	}
	if dirty != "" {
		hash += "+" + dirty
	}
	return hash
}
