package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/kernel"
)

// TestExitStatus runs the command on a passing notebook and two failing ones
// (a panic and a non-zero exit, kernel/testdata): it exits 1, names the
// failed cells and the count, and still writes the passing report and the
// index of all three.
func TestExitStatus(t *testing.T) {
	if testing.Short() {
		t.Skip("executes three notebooks; skipped in -short mode")
	}
	root, _ := filepath.Abs(filepath.Join("..", "..", ".."))
	for _, need := range []string{".cache/venv/bin/jupyter", ".cache/jupyter/kernels/" + kernel.KernelName + "/kernel.json"} {
		if _, err := os.Stat(filepath.Join(root, need)); err != nil {
			t.Skipf("%s is not installed here: run scripts/install-jupyter.sh", need)
		}
	}
	bin := filepath.Join(t.TempDir(), "report")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	reports := t.TempDir()
	cmd := exec.Command(bin, "-reports", reports, "-work", t.TempDir(), "-mathjax", "",
		"kernel/testdata/passing.ipynb", "kernel/testdata/failing_panic.ipynb", "kernel/testdata/failing_exit.ipynb")
	cmd.Dir = root
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	for _, want := range []string{"report: 2 of 3 notebooks failed", "failing_panic.ipynb: cell", "panic:", "failing_exit.ipynb: cell", "exit status 3"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not mention %q:\n%s", want, stderr.String())
		}
	}
	if !strings.Contains(stdout.String(), "passing.ipynb -> ") || !strings.Contains(stdout.String(), "index of 3 reports") {
		t.Errorf("stdout lacks the passing report or the index:\n%s", stdout.String())
	}
	if _, err := os.Stat(filepath.Join(reports, "passing.html")); err != nil {
		t.Errorf("the passing notebook's report: %v", err)
	}
}
