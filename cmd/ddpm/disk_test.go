package main

import (
	"bytes"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/checkpoint"
)

// mountTmpfs mounts a tmpfs of the given size at dir, or skips the test
// where mounting is not allowed (not root, or no mount namespace rights).
func mountTmpfs(t *testing.T, dir string, size int64) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("mounting a small tmpfs needs root; TestCheckpointWriteFaults in train covers the same faults by injection")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", fmt.Sprintf("size=%d", size), "tmpfs", dir).CombinedOutput(); err != nil {
		t.Skipf("cannot mount a tmpfs here (%v: %s); TestCheckpointWriteFaults in train covers the same faults by injection", err, out)
	}
	t.Cleanup(func() { _ = exec.Command("umount", dir).Run() })
}

func remount(t *testing.T, dir, opts string) {
	t.Helper()
	if out, err := exec.Command("mount", "-o", "remount,"+opts, dir).CombinedOutput(); err != nil {
		t.Fatalf("remount %s: %v: %s", opts, err, out)
	}
}

// TestFullDiskAndReadOnlyFolder trains on a real small filesystem: when it
// fills, ddpm train stops with an error that names the problem and every
// checkpoint on disk stays readable; with space back, the same command
// resumes; on a read-only folder it refuses clearly and changes nothing.
func TestFullDiskAndReadOnlyFolder(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the tiny preset several times; skipped in -short mode")
	}
	imgs := t.TempDir()
	writeDigits(t, imgs, 8)
	args := func(dir string, steps int) []string {
		return []string{"train", "-preset", "tiny", "-dir", dir, "-data", "folder:" + imgs, "-steps", fmt.Sprint(steps),
			"-batch", "4", "-checkpoint-every", "1", "-keep", "0", "-log-every", "1"}
	}
	// The size of one checkpoint, measured on an ordinary folder.
	probe := t.TempDir()
	if code, out, errOut := runCLI(args(probe, 1)...); code != 0 {
		t.Fatalf("probe run: %s %s", out, errOut)
	}
	st, err := os.Stat(filepath.Join(probe, "ckpt-000000001.ddpm"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	mountTmpfs(t, dir, 2*st.Size()+16<<10) // Room for two checkpoints, not three.
	code, out, errOut := runCLI(args(dir, 6)...)
	if code == 0 || !strings.Contains(errOut, "no space left on device") {
		t.Fatalf("training onto a full disk: exit %d, stderr %q, stdout %q", code, errOut, out)
	}
	checkAllReadable := func(when string) int64 {
		paths, err := checkpoint.List(dir)
		if err != nil || len(paths) == 0 {
			t.Fatalf("%s: checkpoints %v, %v", when, paths, err)
		}
		for _, p := range paths {
			if _, err := checkpoint.Read(p); err != nil {
				t.Fatalf("%s: %v", when, err)
			}
		}
		if tmps, _ := filepath.Glob(filepath.Join(dir, ".ckpt-*")); len(tmps) != 0 {
			t.Fatalf("%s: partial checkpoint files left: %v", when, tmps)
		}
		ck, _ := checkpoint.Latest(dir)
		return ck.Step
	}
	full := checkAllReadable("after the disk filled")
	t.Logf("disk full after the checkpoint of step %d: %s", full, strings.TrimSpace(errOut))

	remount(t, dir, fmt.Sprintf("size=%d", 64<<20))
	if code, out, errOut := runCLI(args(dir, 6)...); code != 0 || !strings.Contains(out, fmt.Sprintf("resuming %s at step %d", dir, full)) {
		t.Fatalf("resuming with space back: exit %d\n%s\n%s", code, out, errOut)
	}
	if s := checkAllReadable("after resuming"); s != 6 {
		t.Fatalf("resumed run ended at step %d, want 6", s)
	}

	before, _ := os.ReadFile(filepath.Join(dir, "ckpt-000000006.ddpm"))
	remount(t, dir, "ro")
	code, _, errOut = runCLI(args(dir, 8)...)
	if code == 0 || !strings.Contains(errOut, "read-only file system") || !strings.Contains(errOut, "not writable") {
		t.Fatalf("training in a read-only folder: exit %d, stderr %q", code, errOut)
	}
	after, _ := os.ReadFile(filepath.Join(dir, "ckpt-000000006.ddpm"))
	if string(before) != string(after) || checkAllReadable("after the read-only attempt") != 6 {
		t.Fatal("the read-only attempt changed the newest checkpoint")
	}
}

// writeDigits writes n 8x8 PNG images, each with one bright diagonal pixel,
// into dir.
func writeDigits(t *testing.T, dir string, n int) {
	t.Helper()
	for i := range n {
		img := image.NewGray(image.Rect(0, 0, 8, 8))
		img.SetGray(i%8, 7-i%8, color.Gray{255})
		var b bytes.Buffer
		if err := png.Encode(&b, img); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d.png", i)), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// buildCLI builds the ddpm command into dir and returns its path.
func buildCLI(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "ddpm")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}
