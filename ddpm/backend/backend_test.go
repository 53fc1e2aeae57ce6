package backend

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/graph"
)

// TestChoose checks the order of the choice with a fake plugin file in a
// temporary .pjrt folder (nothing is loaded).
func TestChoose(t *testing.T) {
	dir := t.TempDir()
	pj := filepath.Join(dir, PluginDirName)
	if err := os.MkdirAll(pj, 0o755); err != nil {
		t.Fatal(err)
	}
	plugin := filepath.Join(pj, "pjrt_c_api_cpu_plugin.so")
	if err := os.WriteFile(plugin, []byte("fake"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", pj)

	t.Setenv("GOMLX_BACKEND", "")
	c := Choose()
	if c.Plugin != plugin || c.Config != "xla:"+plugin+",shared_buffers" {
		t.Errorf("plugin present: %+v", c)
	}
	t.Setenv("GOMLX_BACKEND", "xla:cpu")
	if c := Choose(); c.Config != "xla:"+plugin+",shared_buffers" || !strings.Contains(c.Reason, "GOMLX_BACKEND") {
		t.Errorf("GOMLX_BACKEND=xla:cpu: %+v", c)
	}
	t.Setenv("GOMLX_BACKEND", "go")
	if c := Choose(); c.Config != "go" || c.Plugin != "" {
		t.Errorf("GOMLX_BACKEND=go: %+v", c)
	}
	// No plugin anywhere and auto-install off: pure Go, with the reason.
	t.Setenv("GOMLX_BACKEND", "")
	t.Setenv("PJRT_PLUGIN_LIBRARY_PATH", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	t.Setenv("GOMLX_NO_AUTO_INSTALL", "1")
	t.Chdir(t.TempDir())
	if c := Choose(); c.Config != PureGoConfig || !strings.Contains(c.Reason, "install-pjrt.sh") {
		if FindPlugin("cpu") == "" { // A system-wide go-xla install would be found legitimately.
			t.Errorf("no plugin: %+v", c)
		}
	}
}

func TestReleaseFreedMemory(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("malloc_trim is glibc's")
	}
	if _, err := os.Stat("/etc/alpine-release"); err == nil {
		t.Skip("musl has no malloc_trim")
	}
	if !ReleaseFreedMemory() {
		t.Fatal("ReleaseFreedMemory found no malloc_trim in this Linux process's C library")
	}
}

// TestNewTrimsAfterCompiling: on XLA, New's backend is wrapped to release
// freed C-heap memory after each compilation, and graphs still compile and
// run through the wrapper.
func TestNewTrimsAfterCompiling(t *testing.T) {
	b := MustNew()
	if Chosen().Plugin == "" {
		t.Skip("no PJRT plugin: the pure-Go backend compiles in Go")
	}
	if _, ok := b.(*trimming); !ok {
		t.Fatalf("New returned %T, want the trimming wrapper", b)
	}
	got := graph.MustExecOnce(b, func(x *graph.Node) *graph.Node { return graph.MulScalar(x, 3) }, float32(2))
	if v := got.Value().(float32); v != 6 {
		t.Fatalf("3 * 2 = %v through the wrapper", v)
	}
}
