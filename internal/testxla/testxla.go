// Package testxla sets up XLA for test binaries that compile many graphs and
// run each only briefly.
package testxla

import (
	"os"
	"strings"
	"testing"
)

// Flag is the XLA flag FastCompile adds.
const Flag = "--xla_backend_optimization_level=0"

// FastCompile sets XLA_FLAGS, for this process and the programs it starts,
// so that XLA's CPU compiler runs LLVM at optimization level 0: the
// optimized HLO (fusions, oneDNN calls, layouts) is the same at every level,
// only the machine code of XLA's own kernels is less optimized. Tests of the
// training step and the command compile a few hundred graphs and run each
// for a few steps, and spend about half the time there; tests that run a
// graph for long (the toy model's fits, the library's oracle tests) are
// slower at level 0 and do not call it. It must run before the backend is
// created (in TestMain), and it changes nothing when XLA_FLAGS already sets
// the level.
func FastCompile() {
	flags := os.Getenv("XLA_FLAGS")
	if strings.Contains(flags, "xla_backend_optimization_level") {
		return
	}
	_ = os.Setenv("XLA_FLAGS", strings.TrimSpace(Flag+" "+flags))
}

// Main is the TestMain of a package whose tests are dominated by XLA's
// compile time: FastCompile, then the tests.
func Main(m *testing.M) {
	FastCompile()
	os.Exit(m.Run())
}
