//go:build linux

package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// infoCase is an environment setting and a line `ddpm info` must print with it.
type infoCase struct {
	set  []string
	want string
}

// checkInfo runs the built command's `info` with variable removed from the
// environment and then each case's settings added, and checks the output
// holds the case's line. The pure-Go backend starts fastest, and neither
// setting checked here depends on the backend.
func checkInfo(t *testing.T, bin, variable string, cases []infoCase) {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, variable+"=") {
			env = append(env, kv)
		}
	}
	for _, c := range cases {
		cmd := exec.Command(bin, "info")
		cmd.Env = append(append(env[:len(env):len(env)], c.set...), "GOMLX_BACKEND=go")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ddpm info with %v: %v\n%s", c.set, err, out)
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("ddpm info with %v printed\n%s\nwant %q", c.set, out, c.want)
		}
	}
}

// TestHugePagesReexec: the command runs with GLIBC_TUNABLES set to
// HugePagesTunable when the caller did not set it, and leaves a caller's
// value (even an empty one) alone.
func TestHugePagesReexec(t *testing.T) {
	checkInfo(t, buildCLI(t, t.TempDir()), "GLIBC_TUNABLES", []infoCase{
		{nil, "glibc:    GLIBC_TUNABLES=" + HugePagesTunable + "\n"},
		{[]string{"GLIBC_TUNABLES=glibc.malloc.trim_threshold=1"}, "glibc:    GLIBC_TUNABLES=glibc.malloc.trim_threshold=1\n"},
		{[]string{"GLIBC_TUNABLES="}, "glibc:    GLIBC_TUNABLES=\n"},
	})
}

// TestScratchReuseSwitch: `ddpm info` says XLA's scratch memory is kept
// between runs, and that it is not when DDPM_REUSE_SCRATCH=0 is set.
func TestScratchReuseSwitch(t *testing.T) {
	checkInfo(t, buildCLI(t, t.TempDir()), "DDPM_REUSE_SCRATCH", []infoCase{
		{nil, "scratch:  XLA's scratch memory kept between runs"},
		{[]string{"DDPM_REUSE_SCRATCH=1"}, "scratch:  XLA's scratch memory kept between runs"},
		{[]string{"DDPM_REUSE_SCRATCH=0"}, "scratch:  XLA's scratch memory allocated afresh on every run"},
	})
}
