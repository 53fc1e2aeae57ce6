package main

import (
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
)

// TestInstalledOutsideCheckout: the command as a user installs it (go
// install into their GOBIN) and runs it from a folder of their own, with a
// home of their own: with the CPU plugin where GoMLX's installer puts it
// (~/.local/lib/go-xla), `ddpm sample` uses the XLA backend and the shipped
// model, which is inside the binary, and writes the grid it names.
func TestInstalledOutsideCheckout(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the installed command")
	}
	plugin := backend.FindPlugin("cpu")
	if plugin == "" {
		t.Skip("no PJRT CPU plugin here (scripts/install-pjrt.sh installs it)")
	}
	gobin, home, work := t.TempDir(), t.TempDir(), t.TempDir()
	install := exec.Command("go", "install", ".")
	install.Env = append(os.Environ(), "GOBIN="+gobin)
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("go install: %v\n%s", err, out)
	}
	lib := filepath.Join(home, ".local", "lib", "go-xla")
	if err := os.MkdirAll(lib, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(plugin, filepath.Join(lib, filepath.Base(plugin))); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(gobin, "ddpm"), "sample", "-n", "4", "-method", "dpm-solver++", "-steps", "3", "-out", "grid.png")
	cmd.Dir = work
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "HOME=") && !strings.HasPrefix(kv, "PJRT_PLUGIN_LIBRARY_PATH=") {
			env = append(env, kv)
		}
	}
	cmd.Env = append(env, "HOME="+home)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("ddpm sample outside the checkout: %v\n%s", err, out)
	}
	for _, want := range []string{"using the shipped MNIST model", "backend xla, PJRT plugin (" + lib} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	f, err := os.Open(filepath.Join(work, "grid.png"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.DecodeConfig(f); err != nil {
		t.Errorf("grid.png: %v", err)
	}
}
