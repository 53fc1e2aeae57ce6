package testxla

import (
	"os"
	"testing"
)

func TestFastCompile(t *testing.T) {
	for _, tc := range []struct{ before, after string }{
		{"", Flag},
		{"--xla_cpu_enable_fast_min_max=false", Flag + " --xla_cpu_enable_fast_min_max=false"},
		{"--xla_backend_optimization_level=2", "--xla_backend_optimization_level=2"},
	} {
		t.Setenv("XLA_FLAGS", tc.before)
		FastCompile()
		if got := os.Getenv("XLA_FLAGS"); got != tc.after {
			t.Errorf("XLA_FLAGS=%q: FastCompile left %q, want %q", tc.before, got, tc.after)
		}
	}
}
