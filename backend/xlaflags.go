package backend

import (
	"bytes"
	"debug/elf"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// CPUSettings are the XLA CPU flags ddpm changes from the plugin's
// defaults, in order of preference: the first whose flags the plugin knows
// is used.
//
// The first routes convolutions and large matrix multiplies to oneDNN, the
// library PyTorch uses on the CPU, through XLA's oneDNN custom calls, with
// YNNPACK off (while YNNPACK takes convolutions, XLA hands none to oneDNN).
// On the mnist preset this made the training step 12-16% and the sampling
// step 20-27% faster than YNNPACK for convolutions only (alternated runs;
// see the README's performance section).
//
// The second, for plugins without the oneDNN calls, keeps YNNPACK for
// convolutions only, instead of its default of convolutions, matrix
// multiplies, reductions and elementwise operations: XLA's own code
// generator fuses those better (8-15% on the mnist training step).
//
// The flags are added to XLA_FLAGS when the chosen plugin is a CPU plugin
// and XLA_FLAGS names none of them; set any of them there yourself and
// ddpm adds nothing (an empty --xla_cpu_experimental_ynn_fusion_type=
// alone gives XLA's own code everywhere).
var CPUSettings = []CPUSetting{
	{Flags: []string{"xla_cpu_experimental_ynn_fusion_type=", "xla_cpu_experimental_onednn_custom_call=true"},
		Needs: "__onednn$convolution"},
	{Flags: []string{"xla_cpu_experimental_ynn_fusion_type=LIBRARY_FUSION_TYPE_INDIVIDUAL_CONVOLUTION"}},
}

// CPUSetting is a set of XLA flags ("name=value", without the dashes), used
// for a plugin whose read-only data names every flag and holds Needs (a
// string that only a plugin built with the feature has; "" for none).
type CPUSetting struct {
	Flags []string
	Needs string
}

// tuneXLAFlags adds the first of CPUSettings that the plugin knows to
// XLA_FLAGS for a CPU plugin, before the client is created (XLA reads its
// flags then, and aborts the process on a flag it does not know, so the
// plugin file is checked for the names first), and the CUDA folder for a
// CUDA plugin (cudaFlags). It returns the flags added, or "".
func tuneXLAFlags(plugin string) string {
	if isCUDA(plugin) {
		return cudaFlags(plugin)
	}
	if plugin == "" || !strings.Contains(filepath.Base(plugin), "_cpu_") {
		return ""
	}
	flags := os.Getenv("XLA_FLAGS")
	for _, setting := range CPUSettings {
		for _, flag := range setting.Flags {
			if strings.Contains(flags, flagName(flag)) {
				return ""
			}
		}
	}
	for _, setting := range CPUSettings {
		known := setting.Needs == "" || pluginKnows(plugin, setting.Needs)
		for _, flag := range setting.Flags {
			known = known && pluginKnows(plugin, flagName(flag))
		}
		if !known {
			continue
		}
		added := "--" + strings.Join(setting.Flags, " --")
		if err := os.Setenv("XLA_FLAGS", strings.TrimSpace(flags+" "+added)); err != nil {
			return ""
		}
		return added
	}
	return ""
}

// flagName is the name in "name=value".
func flagName(flag string) string {
	name, _, _ := strings.Cut(flag, "=")
	return name
}

// pluginKnows reports whether the plugin's read-only data holds s: a flag's
// name (where XLA keeps the names of the flags it parses) or a marker.
func pluginKnows(plugin, s string) bool {
	f, err := elf.Open(plugin)
	if err != nil {
		return false
	}
	defer f.Close()
	sec := f.Section(".rodata")
	if sec == nil {
		return false
	}
	r := sec.Open()
	want := []byte(s)
	buf := make([]byte, 1<<20+len(want))
	carry := 0
	for {
		n, err := io.ReadFull(r, buf[carry:])
		data := buf[:carry+n]
		if bytes.Contains(data, want) {
			return true
		}
		if err != nil { // io.EOF or io.ErrUnexpectedEOF at the end.
			return false
		}
		carry = copy(buf, data[len(data)-len(want)+1:])
	}
}

// isCUDA reports whether a plugin file is a CUDA plugin
// (pjrt_c_api_cuda_plugin.so, JAX's xla_cuda_plugin.so).
func isCUDA(plugin string) bool {
	return plugin != "" && strings.Contains(strings.ToLower(filepath.Base(plugin)), "cuda")
}

// cudaFlags sets --xla_gpu_cuda_data_dir, the folder where XLA's GPU
// compiler finds libdevice (nvvm/libdevice/libdevice.10.bc) and ptxas, to
// the one found beside a CUDA plugin (CUDADataDir), unless XLA_FLAGS
// already names one. Without it XLA searches the CUDA toolkit's system
// folders, which a pip-installed CUDA does not use. It also turns off
// go-xla's own check (GOPJRT_CUDA_CHECKS=0, unless set): go-xla v0.1.4
// warns when the NVIDIA libraries are not in the one folder it expects, and
// when they are, writes a fixed folder of its author's machine into
// XLA_FLAGS if the flag is not there. It returns the flag added, or "".
func cudaFlags(plugin string) string {
	flags := os.Getenv("XLA_FLAGS")
	if strings.Contains(flags, "xla_gpu_cuda_data_dir") {
		return ""
	}
	dir := CUDADataDir(plugin)
	if dir == "" {
		return ""
	}
	added := "--xla_gpu_cuda_data_dir=" + dir
	if err := os.Setenv("XLA_FLAGS", strings.TrimSpace(flags+" "+added)); err != nil {
		return ""
	}
	if _, set := os.LookupEnv("GOPJRT_CUDA_CHECKS"); !set {
		_ = os.Setenv("GOPJRT_CUDA_CHECKS", "0")
	}
	return added
}

// CUDADataDir returns the folder with libdevice
// (nvvm/libdevice/libdevice.10.bc) that belongs to a CUDA plugin: a folder
// named nvidia beside the plugin, beside its folder or beside that
// folder's parent (go-xla's installer puts the NVIDIA libraries in one of
// these; JAX's wheels put the plugin in site-packages/jax_plugins/xla_cuda13
// and the libraries in site-packages/nvidia), or one of that folder's
// cu13, cu12 or cuda_nvcc subfolders (the CUDA 13 and CUDA 12 wheels'
// layouts). It returns "" when none holds libdevice.
func CUDADataDir(plugin string) string {
	dir := filepath.Dir(plugin)
	for _, base := range []string{dir, filepath.Dir(dir), filepath.Dir(filepath.Dir(dir))} {
		nv := filepath.Join(base, "nvidia")
		for _, sub := range []string{"", "cu13", "cu12", "cuda_nvcc"} {
			cand := filepath.Join(nv, sub)
			if _, err := os.Stat(filepath.Join(cand, "nvvm", "libdevice", "libdevice.10.bc")); err == nil {
				if abs, err := filepath.Abs(cand); err == nil {
					return abs
				}
				return cand
			}
		}
	}
	return ""
}
