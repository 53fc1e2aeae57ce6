package train

import (
	gocontext "context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/diffusion-go/ddpm/checkpoint"
)

// fullDisk is a checkpoint file on a disk that fills after limit bytes.
type fullDisk struct {
	*os.File
	limit int
}

func (f *fullDisk) Write(b []byte) (int, error) {
	if len(b) > f.limit {
		n, _ := f.File.Write(b[:f.limit])
		f.limit = 0
		return n, &fs.PathError{Op: "write", Path: f.Name(), Err: syscall.ENOSPC}
	}
	f.limit -= len(b)
	return f.File.Write(b)
}

// withCreateTemp substitutes the creation of checkpoint files for a test.
func withCreateTemp(t *testing.T, fn func(dir, pattern string) (checkpoint.TempFile, error)) {
	old := checkpoint.SetCreateTemp(fn)
	t.Cleanup(func() { checkpoint.SetCreateTemp(old) })
}

// A checkpoint write that runs out of disk space, or meets a read-only
// folder, is an error that says so; the previous checkpoint stays intact and
// no partial file is left behind; once space is back, training resumes.
func TestCheckpointWriteFaults(t *testing.T) {
	cfg := tinyConfig(t)
	cfg.Steps, cfg.CheckpointEvery, cfg.BatchSize = 2, 1, 4
	dir := t.TempDir()
	trainTiny(t, cfg, dir) // Checkpoints at steps 1 and 2.
	before, err := os.ReadFile(filepath.Join(dir, "ckpt-000000002.ddpm"))
	if err != nil {
		t.Fatal(err)
	}
	faults := []struct {
		name, want string
		create     func(dir, pattern string) (checkpoint.TempFile, error)
	}{
		{"disk full", "no space left on device", func(dir, pattern string) (checkpoint.TempFile, error) {
			f, err := os.CreateTemp(dir, pattern)
			return &fullDisk{File: f, limit: 1000}, err
		}},
		{"read-only folder", "read-only file system", func(dir, pattern string) (checkpoint.TempFile, error) {
			return nil, &fs.PathError{Op: "open", Path: filepath.Join(dir, pattern), Err: syscall.EROFS}
		}},
	}
	for _, f := range faults {
		withCreateTemp(t, f.create)
		cfg.Steps = 3
		tr, err := New(backend.MustNew(), cfg, dir, synthetic(20))
		if err != nil {
			t.Fatal(err)
		}
		err = tr.Run(gocontext.Background(), 1, nil)
		tr.Close()
		if err == nil || !strings.Contains(err.Error(), f.want) || !strings.Contains(err.Error(), "ckpt-000000003.ddpm") {
			t.Errorf("%s: error %v, want one naming the checkpoint and %q", f.name, err, f.want)
		}
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			t.Errorf("%s: the error does not wrap the system's: %v", f.name, err)
		}
		paths, _ := checkpoint.List(dir)
		if len(paths) != 2 || filepath.Base(paths[1]) != "ckpt-000000002.ddpm" {
			t.Errorf("%s: checkpoints after the failure: %v", f.name, paths)
		}
		after, err := os.ReadFile(filepath.Join(dir, "ckpt-000000002.ddpm"))
		if err != nil || string(after) != string(before) {
			t.Errorf("%s: the previous checkpoint changed (%v)", f.name, err)
		}
		if tmps, _ := filepath.Glob(filepath.Join(dir, ".ckpt-*")); len(tmps) != 0 {
			t.Errorf("%s: partial files left: %v", f.name, tmps)
		}
	}
	checkpoint.SetCreateTemp(nil)
	trainTiny(t, cfg, dir) // Space is back: the run resumes at step 2 and finishes.
	if ck, err := checkpoint.Latest(dir); err != nil || ck.Step != 3 {
		t.Fatalf("after the faults: %v, %v", ck, err)
	}
}
