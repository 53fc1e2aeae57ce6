package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
)

// With bfloat16 products, every convolution of the training step reaches
// oneDNN in bfloat16. (bfloat16 activations hand the same convolutions the
// same bfloat16 operands; their training step is run by train's
// TestMixedPrecisionTraining.) XLA on the CPU computes a convolution in float32 when
// it cannot hand it to oneDNN in bfloat16: the input gradients did so while
// their kernels had swapped channel labels (docs/performance.md, Mixed
// precision), which cost the mnist step 17%. Read from XLA's optimized HLO of
// the tiny preset's training step.
func TestBFloat16TrainingConvolutions(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the command and compiles the tiny preset's training step; skipped in -short mode")
	}
	if b := backend.MustNew(); b.Name() == "go" || !strings.Contains(backend.Describe(b), "cpu") {
		t.Skip("needs the XLA CPU plugin")
	}
	if cpu, _ := os.ReadFile("/proc/cpuinfo"); !regexp.MustCompile(`\b(avx512_bf16|amx_bf16)\b`).Match(cpu) {
		t.Skip("this CPU has no bfloat16 instructions: XLA computes bfloat16 convolutions in float32 on it")
	}
	tmp := t.TempDir()
	bin := buildCLI(t, tmp)
	for _, precision := range []string{"bfloat16"} {
		t.Run(precision, func(t *testing.T) {
			dump := filepath.Join(tmp, precision, "dump")
			cmd := exec.Command(bin, "train", "-preset", "tiny", "-precision", precision, "-steps", "1", "-batch", "4", "-dir", filepath.Join(tmp, precision, "run"))
			cmd.Env = append(os.Environ(), "XLA_FLAGS=--xla_dump_to="+dump+" --xla_dump_hlo_as_text --xla_dump_hlo_module_re=.*buildExec.*")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("train: %v\n%s", err, out)
			}
			files, _ := filepath.Glob(filepath.Join(dump, "*buildExec*.cpu_after_optimizations.txt"))
			call := regexp.MustCompile(`= \((\w+)\[[^\n]*custom_call_target="__onednn\$convolution"`)
			total := map[string]int{}
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range call.FindAllStringSubmatch(string(b), -1) {
					total[m[1]]++
				}
			}
			if len(total) == 0 {
				t.Skipf("no oneDNN convolution in the %d dumped training steps (oneDNN off on this plugin)", len(files))
			}
			t.Logf("oneDNN convolutions: %d bfloat16, %d float32", total["bf16"], total["f32"])
			if total["f32"] > 0 || total["bf16"] == 0 {
				t.Errorf("%d of the %s training step's oneDNN convolutions run in float32 (%d in bfloat16)", total["f32"], precision, total["bf16"])
			}
		})
	}
}
