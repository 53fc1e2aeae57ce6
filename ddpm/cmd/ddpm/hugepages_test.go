//go:build linux

package main

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestHugePagesReexec: the command runs with GLIBC_TUNABLES set to
// HugePagesTunable when the caller did not set it, and leaves a caller's
// value (even an empty one) alone.
func TestHugePagesReexec(t *testing.T) {
	bin := buildCLI(t, t.TempDir())
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "GLIBC_TUNABLES=") {
			env = append(env, kv)
		}
	}
	for _, c := range []struct {
		set  []string
		want string
	}{
		{nil, "glibc:    GLIBC_TUNABLES=" + HugePagesTunable + "\n"},
		{[]string{"GLIBC_TUNABLES=glibc.malloc.trim_threshold=1"}, "glibc:    GLIBC_TUNABLES=glibc.malloc.trim_threshold=1\n"},
		{[]string{"GLIBC_TUNABLES="}, "glibc:    GLIBC_TUNABLES=\n"},
	} {
		cmd := exec.Command(bin, "info")
		cmd.Env = append(env[:len(env):len(env)], c.set...)
		cmd.Env = append(cmd.Env, "GOMLX_BACKEND=go") // The tunable does not depend on the backend; pure Go starts fastest.
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ddpm info with %v: %v\n%s", c.set, err, out)
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("ddpm info with %v printed\n%s\nwant the line %q", c.set, out, c.want)
		}
	}
}

// TestScratchReuseSwitch: `ddpm info` says XLA's scratch memory is kept
// between runs, and that it is not when DDPM_REUSE_SCRATCH=0 is set.
func TestScratchReuseSwitch(t *testing.T) {
	bin := buildCLI(t, t.TempDir())
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DDPM_REUSE_SCRATCH=") {
			env = append(env, kv)
		}
	}
	for _, c := range []struct {
		set  []string
		want string
	}{
		{nil, "scratch:  XLA's scratch memory kept between runs"},
		{[]string{"DDPM_REUSE_SCRATCH=1"}, "scratch:  XLA's scratch memory kept between runs"},
		{[]string{"DDPM_REUSE_SCRATCH=0"}, "scratch:  XLA's scratch memory allocated afresh on every run"},
	} {
		cmd := exec.Command(bin, "info")
		cmd.Env = append(append(env[:len(env):len(env)], c.set...), "GOMLX_BACKEND=go")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("ddpm info with %v: %v\n%s", c.set, err, out)
		}
		if !strings.Contains(string(out), c.want) {
			t.Errorf("ddpm info with %v printed\n%s\nwant a line starting %q", c.set, out, c.want)
		}
	}
}
