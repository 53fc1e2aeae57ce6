package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
)

// TestSameSeedSameGridAcrossProcesses trains a tiny model, then samples a
// grid twice, in two separate processes, on each backend: the same seed must
// give byte-identical PNG files. (The two backends need not agree with each
// other bit for bit: they order floating-point sums differently.)
func TestSameSeedSameGridAcrossProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and samples four times; skipped in -short mode")
	}
	tmp := t.TempDir()
	bin := buildCLI(t, tmp)
	imgs := filepath.Join(tmp, "imgs")
	_ = os.MkdirAll(imgs, 0o755)
	writeDigits(t, imgs, 8)
	run := filepath.Join(tmp, "run")
	if code, out, errOut := runCLI("train", "-preset", "tiny", "-dir", run, "-data", "folder:"+imgs, "-steps", "3", "-batch", "4"); code != 0 {
		t.Fatalf("train: %s %s", out, errOut)
	}
	backends := map[string]string{"pure Go": backend.PureGoConfig}
	if b := backend.MustNew(); b.Name() != "go" {
		backends["XLA"] = "" // The default choice: the PJRT plugin found by the backend package.
	}
	grids := map[string][]byte{}
	for name, cfg := range backends {
		var first []byte
		for i := range 2 {
			out := filepath.Join(tmp, name+string(rune('a'+i))+".png")
			cmd := exec.Command(bin, "sample", "-dir", run, "-n", "6", "-steps", "25", "-seed", "7", "-out", out)
			cmd.Env = append(os.Environ(), "GOMLX_BACKEND="+cfg)
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s sample: %v\n%s", name, err, b)
			}
			png, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if i == 0 {
				first = png
			} else if !bytes.Equal(first, png) {
				t.Errorf("%s: two processes with seed 7 wrote different grids", name)
			}
		}
		grids[name] = first
	}
	if len(grids) == 2 {
		t.Logf("pure Go and XLA grids identical: %v", bytes.Equal(grids["pure Go"], grids["XLA"]))
	}
}
