package backend

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPluginKnows: a flag and the oneDNN marker are found in the installed
// CPU plugin, a made-up flag is not, and a file that is not a shared library
// knows nothing.
func TestPluginKnows(t *testing.T) {
	const ynnFlag = "xla_cpu_experimental_ynn_fusion_type"
	junk := filepath.Join(t.TempDir(), "pjrt_c_api_cpu_plugin.so")
	if err := os.WriteFile(junk, []byte("not an ELF file but it mentions "+ynnFlag), 0o644); err != nil {
		t.Fatal(err)
	}
	if pluginKnows(junk, ynnFlag) {
		t.Error("a non-ELF file was taken for a plugin")
	}
	plugin := FindPlugin("cpu")
	if plugin == "" {
		t.Skip("no PJRT CPU plugin installed (scripts/install-pjrt.sh)")
	}
	for _, want := range []string{ynnFlag, CPUSettings[0].Needs} { // The pinned plugin (0.115) has both.
		if !pluginKnows(plugin, want) {
			t.Errorf("%s does not mention %s", plugin, want)
		}
	}
	if pluginKnows(plugin, "xla_cpu_no_such_flag_in_any_version") {
		t.Error("a made-up flag was found in the plugin")
	}
}

// TestTuneXLAFlags: the first setting the plugin knows is added for a CPU
// plugin (the second when the first's marker is missing), nothing when
// XLA_FLAGS already names one of the flags, and nothing for other plugins.
func TestTuneXLAFlags(t *testing.T) {
	plugin := FindPlugin("cpu")
	if plugin == "" {
		t.Skip("no PJRT CPU plugin installed (scripts/install-pjrt.sh)")
	}
	var want string
	for _, s := range CPUSettings {
		if s.Needs == "" || pluginKnows(plugin, s.Needs) {
			want = "--" + strings.Join(s.Flags, " --")
			break
		}
	}
	t.Setenv("XLA_FLAGS", "--xla_cpu_enable_fast_min_max=false")
	if got := tuneXLAFlags(plugin); got != want {
		t.Fatalf("tuneXLAFlags = %q, want %q", got, want)
	}
	if got := os.Getenv("XLA_FLAGS"); got != "--xla_cpu_enable_fast_min_max=false "+want {
		t.Errorf("XLA_FLAGS = %q: the user's flags must be kept, the new ones appended", got)
	}

	for _, s := range CPUSettings {
		for _, flag := range s.Flags {
			own := "--" + flagName(flag) + "=" + "x"
			t.Setenv("XLA_FLAGS", own)
			if got := tuneXLAFlags(plugin); got != "" || os.Getenv("XLA_FLAGS") != own {
				t.Errorf("with %s set by the user: added %q, XLA_FLAGS = %q", flagName(flag), got, os.Getenv("XLA_FLAGS"))
			}
		}
	}

	old := CPUSettings
	t.Cleanup(func() { CPUSettings = old })
	CPUSettings = []CPUSetting{{Flags: []string{"xla_cpu_enable_fast_min_max=true"}, Needs: "no such marker in any plugin"}, old[len(old)-1]}
	t.Setenv("XLA_FLAGS", "")
	if got, want := tuneXLAFlags(plugin), "--"+old[len(old)-1].Flags[0]; got != want {
		t.Errorf("with the first setting's marker missing: added %q, want %q", got, want)
	}
	CPUSettings = old

	t.Setenv("XLA_FLAGS", "")
	for _, p := range []string{"", filepath.Join(filepath.Dir(plugin), "pjrt_c_api_cuda_plugin.so")} {
		if got := tuneXLAFlags(p); got != "" || os.Getenv("XLA_FLAGS") != "" {
			t.Errorf("plugin %q: added %q", p, got)
		}
	}
}

// TestCUDAFlags: for a CUDA plugin, the folder holding libdevice is found in
// JAX's layout (site-packages/jax_plugins/xla_cuda13 beside
// site-packages/nvidia/cu13) and in go-xla's (nvidia beside the plugin's
// folder), added to XLA_FLAGS with go-xla's check turned off; nothing is
// added when XLA_FLAGS names a folder already or none holds libdevice.
func TestCUDAFlags(t *testing.T) {
	libdevice := func(dir string) {
		t.Helper()
		p := filepath.Join(dir, "nvvm", "libdevice", "libdevice.10.bc")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("BC"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sp := t.TempDir() // site-packages
	jax := filepath.Join(sp, "jax_plugins", "xla_cuda13", "xla_cuda_plugin.so")
	libdevice(filepath.Join(sp, "nvidia", "cu13"))
	goxla := filepath.Join(t.TempDir(), "lib", "go-xla", "pjrt_c_api_cuda_plugin.so")
	libdevice(filepath.Join(filepath.Dir(filepath.Dir(goxla)), "nvidia", "cuda_nvcc"))
	bare := filepath.Join(t.TempDir(), "pjrt_c_api_cuda_plugin.so")

	for _, tc := range []struct{ plugin, want string }{
		{jax, filepath.Join(sp, "nvidia", "cu13")},
		{goxla, filepath.Join(filepath.Dir(filepath.Dir(goxla)), "nvidia", "cuda_nvcc")},
		{bare, ""},
	} {
		if got := CUDADataDir(tc.plugin); got != tc.want {
			t.Errorf("CUDADataDir(%s) = %q, want %q", tc.plugin, got, tc.want)
		}
		t.Setenv("XLA_FLAGS", "--xla_gpu_autotune_level=0")
		os.Unsetenv("GOPJRT_CUDA_CHECKS")
		t.Cleanup(func() { os.Unsetenv("GOPJRT_CUDA_CHECKS") })
		added := tuneXLAFlags(tc.plugin)
		if tc.want == "" {
			if added != "" || os.Getenv("XLA_FLAGS") != "--xla_gpu_autotune_level=0" {
				t.Errorf("%s: added %q with no libdevice anywhere", tc.plugin, added)
			}
			continue
		}
		flag := "--xla_gpu_cuda_data_dir=" + tc.want
		if added != flag || os.Getenv("XLA_FLAGS") != "--xla_gpu_autotune_level=0 "+flag {
			t.Errorf("%s: added %q, XLA_FLAGS %q; want %q appended", tc.plugin, added, os.Getenv("XLA_FLAGS"), flag)
		}
		if os.Getenv("GOPJRT_CUDA_CHECKS") != "0" {
			t.Errorf("%s: go-xla's CUDA check left on", tc.plugin)
		}
		own := "--xla_gpu_cuda_data_dir=/opt/cuda"
		t.Setenv("XLA_FLAGS", own)
		if added := tuneXLAFlags(tc.plugin); added != "" || os.Getenv("XLA_FLAGS") != own {
			t.Errorf("%s with the user's folder: added %q, XLA_FLAGS %q", tc.plugin, added, os.Getenv("XLA_FLAGS"))
		}
	}
}
