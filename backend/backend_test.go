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

// TestScratchReuse: blocks of 32 MiB or more from posix_memalign are kept
// when freed and handed back for a request of the same size or up to an
// eighth smaller, at most two of them idle at a time, the least recently
// freed dropped first; smaller blocks are left to the C library; and
// releaseScratch hands the kept ones back.
func TestScratchReuse(t *testing.T) {
	const MiB = 1 << 20
	releaseScratch()
	p := scratchProbe(40 * MiB)
	if p == 0 {
		t.Skip("no scratch reuse here (needs Linux and cgo)")
	}
	if !ReusesScratch() {
		t.Error("ReusesScratch is false, though large blocks are kept")
	}
	scratchFree(p)
	if n, bytes := idleScratch(); n != 1 || bytes != 40*MiB {
		t.Fatalf("after freeing a 40 MiB block: %d idle blocks, %d bytes; want 1, %d", n, bytes, 40*MiB)
	}
	if q := scratchProbe(40 * MiB); q != p {
		t.Errorf("40 MiB again: %#x, want the kept block %#x", q, p)
	} else {
		scratchFree(q)
	}
	if q := scratchProbe(36 * MiB); q != p {
		t.Errorf("36 MiB (an eighth smaller at most): %#x, want the kept 40 MiB block %#x", q, p)
	} else {
		scratchFree(q)
	}
	if q := scratchProbe(34 * MiB); q == p {
		t.Errorf("34 MiB got the kept 40 MiB block: more than an eighth is wasted")
	} else {
		scratchFree(q) // Kept too: now two idle blocks, 40 and 34 MiB.
	}
	small := scratchProbe(16 * MiB)
	scratchFree(small)
	if n, bytes := idleScratch(); n != 2 || bytes != 74*MiB {
		t.Fatalf("after 40 and 34 MiB blocks and a 16 MiB one: %d idle, %d bytes; want 2, %d", n, bytes, 74*MiB)
	}
	q := scratchProbe(80 * MiB)
	scratchFree(q) // A third idle block pushes out the 40 MiB one, freed first.
	if n, bytes := idleScratch(); n != 2 || bytes != 114*MiB {
		t.Fatalf("after a third, 80 MiB block: %d idle, %d bytes; want 2 (34 and 80 MiB), %d", n, bytes, 114*MiB)
	}
	if released := releaseScratch(); released != 114*MiB {
		t.Errorf("releaseScratch handed back %d bytes, want %d", released, 114*MiB)
	}
	if n, _ := idleScratch(); n != 0 {
		t.Errorf("%d idle blocks after releaseScratch", n)
	}
}

// TestChooseMissingPlugin: a plugin asked for by name that is not installed
// is reported as missing (New then refuses with how to install it, instead
// of trying something else); a plugin that is installed, a path and another
// backend are not.
func TestChooseMissingPlugin(t *testing.T) {
	for _, tc := range []struct{ cfg, missing string }{
		{"xla:nosuchgpu", "nosuchgpu"},
		{"xla:nosuchgpu,shared_buffers", "nosuchgpu"},
		{"xla:/abs/path/pjrt_c_api_cpu_plugin.so", ""},
		{"go", ""},
	} {
		t.Setenv("GOMLX_BACKEND", tc.cfg)
		if got := Choose().Missing; got != tc.missing {
			t.Errorf("GOMLX_BACKEND=%s: missing %q, want %q", tc.cfg, got, tc.missing)
		}
	}
	if FindPlugin("cpu") != "" {
		t.Setenv("GOMLX_BACKEND", "xla:cpu")
		if got := Choose().Missing; got != "" {
			t.Errorf("GOMLX_BACKEND=xla:cpu with the CPU plugin installed: missing %q", got)
		}
	}
}

// The backend's line names the plugin and the device count once each, and
// keeps a reason that says more than the plugin's path.
func TestDescribe(t *testing.T) {
	const plugin = "/r/.pjrt/pjrt_c_api_cpu_plugin.so"
	gomlx := "xla:" + plugin + " - PJRT plugin (" + plugin + ") v0.115 [StableHLO] [4 device(s)]"
	for _, c := range []struct {
		desc, plugin, reason, want string
		devices                    int
	}{
		{gomlx, plugin, "found PJRT cpu plugin " + plugin, "backend xla, PJRT plugin (" + plugin + ") v0.115 [StableHLO] [4 device(s)]", 4},
		{gomlx, plugin, "GOMLX_BACKEND is set", "backend xla, PJRT plugin (" + plugin + ") v0.115 [StableHLO] [4 device(s)] (GOMLX_BACKEND is set)", 4},
		{"go - pure Go backend", "", "no PJRT plugin found after auto-install; install it", "backend go - pure Go backend, 1 device(s) (no PJRT plugin found after auto-install; install it)", 1},
	} {
		if got := describe(c.desc, c.devices, c.plugin, c.reason); got != c.want {
			t.Errorf("describe(%q, %q):\n got %q\nwant %q", c.desc, c.reason, got, c.want)
		}
	}
}
