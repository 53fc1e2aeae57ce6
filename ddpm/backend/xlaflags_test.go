package backend

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPluginKnows: the flag is found in the installed CPU plugin, a made-up
// flag is not, and a file that is not a shared library knows nothing.
func TestPluginKnows(t *testing.T) {
	junk := filepath.Join(t.TempDir(), "pjrt_c_api_cpu_plugin.so")
	if err := os.WriteFile(junk, []byte("not an ELF file but it mentions "+CPUFusionFlag), 0o644); err != nil {
		t.Fatal(err)
	}
	if pluginKnows(junk, CPUFusionFlag) {
		t.Error("a non-ELF file was taken for a plugin")
	}
	plugin := FindPlugin("cpu")
	if plugin == "" {
		t.Skip("no PJRT CPU plugin installed (scripts/install-pjrt.sh)")
	}
	if !pluginKnows(plugin, CPUFusionFlag) {
		t.Errorf("%s does not mention %s", plugin, CPUFusionFlag)
	}
	if pluginKnows(plugin, "xla_cpu_no_such_flag_in_any_version") {
		t.Error("a made-up flag was found in the plugin")
	}
}

// TestTuneXLAFlags: the flag is added for a CPU plugin that knows it, kept
// out when XLA_FLAGS already sets it, and never added for other plugins.
func TestTuneXLAFlags(t *testing.T) {
	plugin := FindPlugin("cpu")
	if plugin == "" {
		t.Skip("no PJRT CPU plugin installed (scripts/install-pjrt.sh)")
	}
	t.Setenv("XLA_FLAGS", "--xla_cpu_enable_fast_min_max=false")
	want := "--" + CPUFusionFlag + "=" + CPUFusionValue
	if got := tuneXLAFlags(plugin); got != want {
		t.Fatalf("tuneXLAFlags = %q, want %q", got, want)
	}
	if got := os.Getenv("XLA_FLAGS"); got != "--xla_cpu_enable_fast_min_max=false "+want {
		t.Errorf("XLA_FLAGS = %q: the user's flags must be kept, the new one appended", got)
	}

	own := "--" + CPUFusionFlag + "="
	t.Setenv("XLA_FLAGS", own)
	if got := tuneXLAFlags(plugin); got != "" || os.Getenv("XLA_FLAGS") != own {
		t.Errorf("with the flag set by the user: added %q, XLA_FLAGS = %q", got, os.Getenv("XLA_FLAGS"))
	}

	t.Setenv("XLA_FLAGS", "")
	for _, p := range []string{"", filepath.Join(filepath.Dir(plugin), "pjrt_c_api_cuda_plugin.so")} {
		if got := tuneXLAFlags(p); got != "" || strings.Contains(os.Getenv("XLA_FLAGS"), CPUFusionFlag) {
			t.Errorf("plugin %q: added %q", p, got)
		}
	}
}
