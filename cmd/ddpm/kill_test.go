package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/diffusion-go/ddpm/checkpoint"
)

// TestKillAndResume builds the ddpm command, starts a training run, kills it
// with SIGKILL at several moments (checkpoints are written at every step, so
// some kills land inside a checkpoint write), runs the same command again
// each time, and checks that every checkpoint left on disk is readable, that
// the run reaches its final step, and that its final weights equal, bit for
// bit, those of a run that was never interrupted.
func TestKillAndResume(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and trains several times; skipped in -short mode")
	}
	tmp := t.TempDir()
	bin := buildCLI(t, tmp)
	imgs := filepath.Join(tmp, "imgs")
	_ = os.MkdirAll(imgs, 0o755)
	writeDigits(t, imgs, 8)
	const steps = 300
	args := func(dir string) []string {
		return []string{"train", "-preset", "tiny", "-dir", dir, "-data", "folder:" + imgs, "-steps", fmt.Sprint(steps),
			"-batch", "4", "-checkpoint-every", "1", "-keep", "2", "-log-every", "10"}
	}
	runToEnd := func(dir string) string {
		out, err := exec.Command(bin, args(dir)...).CombinedOutput()
		if err != nil {
			t.Fatalf("ddpm %v: %v\n%s", args(dir), err, out)
		}
		return string(out)
	}

	straight := filepath.Join(tmp, "straight")
	runToEnd(straight)

	dir := filepath.Join(tmp, "killed")
	rng := rand.New(rand.NewPCG(42, 42))
	newest := func() int64 {
		paths, _ := checkpoint.List(dir)
		if len(paths) == 0 {
			return 0
		}
		var step int64
		fmt.Sscanf(filepath.Base(paths[len(paths)-1]), "ckpt-%d.ddpm", &step)
		return step
	}
	for kill := 1; kill <= 4; kill++ {
		cmd := exec.Command(bin, args(dir)...)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// Kill once training has moved 1 to 30 steps past where it resumed, plus
		// up to 3 ms: a checkpoint is written at every step, so some kills land
		// in the middle of one.
		target := newest() + 1 + int64(rng.IntN(30))
		var err error
	wait:
		for {
			select {
			case err = <-exited:
				t.Fatalf("run %d ended before it could be killed (%v)", kill, err)
			default:
			}
			if newest() >= target {
				time.Sleep(time.Duration(rng.IntN(3000)) * time.Microsecond)
				_ = cmd.Process.Signal(syscall.SIGKILL)
				err = <-exited
				break wait
			}
			time.Sleep(time.Millisecond)
		}
		if err == nil {
			t.Fatalf("run %d finished before the kill", kill)
		}
		paths, lerr := checkpoint.List(dir)
		if lerr != nil {
			t.Fatal(lerr)
		}
		for _, p := range paths {
			if _, err := checkpoint.Read(p); err != nil {
				t.Fatalf("after kill %d: checkpoint %s unreadable: %v", kill, p, err)
			}
		}
		t.Logf("kill %d at step >= %d: newest checkpoint at step %d, %d on disk", kill, target, newest(), len(paths))
	}
	// One more kill, certainly inside a checkpoint write: with the write
	// paused half-way (checkpoint.WriteDelayEnv), kill once the temporary file is
	// there. The interrupted write must leave no ckpt-*.ddpm behind.
	before, _ := checkpoint.List(dir)
	cmd := exec.Command(bin, args(dir)...)
	cmd.Env = append(os.Environ(), checkpoint.WriteDelayEnv+"=300ms")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Minute)
	for {
		if tmps, _ := filepath.Glob(filepath.Join(dir, ".ckpt-*.tmp")); len(tmps) > 0 {
			break
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("no checkpoint write began within 2 minutes")
		}
		time.Sleep(time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".ckpt-*.tmp")); len(tmps) == 0 {
		t.Fatal("the kill did not land inside a checkpoint write")
	}
	after, _ := checkpoint.List(dir)
	for _, p := range after {
		if _, err := checkpoint.Read(p); err != nil {
			t.Fatalf("after a kill mid-write: %v", err)
		}
	}
	t.Logf("kill mid-write: %d checkpoints before, %d after, a partial temporary file left (removed on resume)", len(before), len(after))

	out := runToEnd(dir)
	if !strings.Contains(out, "resuming") || !strings.Contains(out, fmt.Sprintf("done: %d steps", steps)) {
		t.Errorf("final run output:\n%s", out)
	}
	if tmps, _ := filepath.Glob(filepath.Join(dir, ".ckpt-*.tmp")); len(tmps) != 0 {
		t.Errorf("partial checkpoint files left after resuming: %v", tmps)
	}
	want, err := checkpoint.Latest(straight)
	if err != nil {
		t.Fatal(err)
	}
	got, err := checkpoint.Latest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Step != steps || want.Step != steps {
		t.Fatalf("final steps %d (killed) and %d (straight), want %d", got.Step, want.Step, steps)
	}
	if len(got.Vars) != len(want.Vars) {
		t.Fatalf("%d variables after kills, %d straight", len(got.Vars), len(want.Vars))
	}
	for i, v := range want.Vars {
		var a, b []byte
		_ = v.Value.ConstBytes(func(x []byte) { a = append(a, x...) })
		_ = got.Vars[i].Value.ConstBytes(func(x []byte) { b = append(b, x...) })
		if v.Name != got.Vars[i].Name || !bytes.Equal(a, b) {
			t.Fatalf("variable %s differs between the killed-and-resumed run and the straight one", v.Name)
		}
	}
}
