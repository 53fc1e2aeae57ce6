package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/diffusion-go/ddpm/checkpoint"
	"github.com/diffusion-go/ddpm/train"
)

// runFolderTest builds the command and returns it with a tiny-preset
// training command line over a folder of 8x8 digits, and a folder to run in.
func runFolderTest(t *testing.T) (bin string, args func(dir string, steps int) []string, tmp string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds the command and trains; skipped in -short mode")
	}
	tmp = t.TempDir()
	bin = buildCLI(t, tmp)
	imgs := filepath.Join(tmp, "imgs")
	_ = os.MkdirAll(imgs, 0o755)
	writeDigits(t, imgs, 8)
	args = func(dir string, steps int) []string {
		return []string{"train", "-preset", "tiny", "-dir", dir, "-data", "folder:" + imgs, "-steps", fmt.Sprint(steps),
			"-batch", "4", "-checkpoint-every", "50", "-keep", "2", "-log-every", "10"}
	}
	return bin, args, tmp
}

// waitFor polls cond every millisecond for up to two minutes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(2 * time.Minute); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within 2 minutes", what)
		}
	}
}

func hasCheckpoint(dir string) bool {
	paths, _ := checkpoint.List(dir)
	return len(paths) > 0
}

// TestOneTrainingPerFolder: while a training holds a run folder, a second
// one on the same folder is refused at once, naming the folder and the
// holder's PID, and changes nothing; once the holder is killed with SIGKILL
// the kernel has released its lock and a new training starts immediately.
func TestOneTrainingPerFolder(t *testing.T) {
	bin, args, tmp := runFolderTest(t)
	dir := filepath.Join(tmp, "run")
	first := exec.Command(bin, args(dir, 1000000)...)
	if err := first.Start(); err != nil {
		t.Fatal(err)
	}
	defer first.Process.Kill()
	waitFor(t, "first checkpoint", func() bool { return hasCheckpoint(dir) })

	var stderr bytes.Buffer
	second := exec.Command(bin, append(args(dir, 1000000), "-lr", "0.002")...)
	second.Stderr = &stderr
	err := second.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("second training: %v, want exit status 1", err)
	}
	for _, want := range []string{"run folder " + dir + " is in use", fmt.Sprintf("process %d", first.Process.Pid)} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("second training's message %q does not contain %q", stderr.String(), want)
		}
	}

	_ = first.Process.Signal(syscall.SIGKILL)
	_ = first.Wait()
	out, err := exec.Command(bin, args(dir, 3)...).CombinedOutput()
	if err != nil && !strings.Contains(string(out), "resuming") {
		t.Fatalf("training after the holder was killed: %v\n%s", err, out)
	}
	if strings.Contains(string(out), "in use") {
		t.Fatalf("the killed holder's lock was not released:\n%s", out)
	}
}

// TestSignalStopsCleanly: SIGINT and SIGTERM finish the current step, write
// a checkpoint at it, and exit with 130 and 143, saying so; the same command
// resumes from that step. A second SIGINT during the checkpoint write stops
// the process at once, and every checkpoint on disk is still readable.
func TestSignalStopsCleanly(t *testing.T) {
	bin, args, tmp := runFolderTest(t)
	for _, tc := range []struct {
		sig  syscall.Signal
		code int
		name string
	}{{syscall.SIGINT, exitInterrupted, "interrupt"}, {syscall.SIGTERM, exitTerminated, "terminated"}} {
		dir := filepath.Join(tmp, tc.name)
		var stderr bytes.Buffer
		cmd := exec.Command(bin, args(dir, 1000000)...)
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "first checkpoint", func() bool { return hasCheckpoint(dir) })
		_ = cmd.Process.Signal(tc.sig)
		err := cmd.Wait()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != tc.code {
			t.Fatalf("%v: %v, want exit status %d\n%s", tc.sig, err, tc.code, stderr.String())
		}
		var step int64
		if _, err := fmt.Sscanf(stderr.String()[strings.Index(stderr.String(), "stopped by "+tc.name+" at step "):], "stopped by "+tc.name+" at step %d", &step); err != nil {
			t.Fatalf("%v: message %q does not give the step", tc.sig, stderr.String())
		}
		ck, err := checkpoint.Latest(dir)
		if err != nil || ck.Step != step {
			t.Fatalf("%v: newest checkpoint %v (%v), want one at step %d", tc.sig, ck, err, step)
		}
		out, err := exec.Command(bin, args(dir, int(step)+2)...).CombinedOutput()
		if err != nil || !strings.Contains(string(out), fmt.Sprintf("resuming %s at step %d", dir, step)) {
			t.Fatalf("%v: resuming: %v\n%s", tc.sig, err, out)
		}
	}

	dir := filepath.Join(tmp, "twice")
	cmd := exec.Command(bin, args(dir, 1000000)...)
	cmd.Env = append(os.Environ(), checkpoint.WriteDelayEnv+"=2s")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "first checkpoint", func() bool { return hasCheckpoint(dir) })
	_ = cmd.Process.Signal(syscall.SIGINT)
	waitFor(t, "checkpoint write after SIGINT", func() bool {
		tmps, _ := filepath.Glob(filepath.Join(dir, ".ckpt-*.tmp"))
		return len(tmps) > 0
	})
	_ = cmd.Process.Signal(syscall.SIGINT)
	err := cmd.Wait()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != -1 || exit.Sys().(syscall.WaitStatus).Signal() != syscall.SIGINT {
		t.Fatalf("second SIGINT: %v, want the process killed by SIGINT", err)
	}
	paths, _ := checkpoint.List(dir)
	for _, p := range paths {
		if _, err := checkpoint.Read(p); err != nil {
			t.Errorf("after the second signal: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, train.LockFile)); err != nil {
		t.Errorf("lock file: %v", err)
	}
}
