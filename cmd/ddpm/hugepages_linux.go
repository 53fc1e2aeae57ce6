package main

import (
	"os"
	"syscall"
)

// HugePagesTunable asks glibc's malloc to back its large blocks with
// transparent huge pages (glibc 2.35 and later; older versions ignore it).
// XLA CPU allocates each executable's scratch memory (about 375 MiB for an
// mnist training step) in one block, and the kernel maps and zeroes it page
// by page; with 2 MiB pages that costs 512 times fewer faults, and fewer
// TLB misses after. When every run mapped its scratch memory afresh, this
// made the mnist training step 4-8% faster here (A/B of ddpm bench -worker,
// alternated). backend now keeps that block from run to run, and the
// tunable still makes the step 4-6% faster (3 alternated rounds: 0.510-0.521
// s against 0.538-0.545 s with glibc's defaults; sampling steps 112-117
// against 119-124 ms). glibc reads its tunables only when a process starts,
// so the command re-executes itself once with the tunable set.
const HugePagesTunable = "glibc.malloc.hugetlb=1"

// withHugePages re-executes the command with GLIBC_TUNABLES set to
// HugePagesTunable, unless GLIBC_TUNABLES is already set (to anything: an
// empty value keeps glibc's defaults). It returns only if it did not.
func withHugePages() {
	if _, set := os.LookupEnv("GLIBC_TUNABLES"); set {
		return
	}
	exe, err := os.Executable()
	if err != nil {
		return
	}
	env := append(os.Environ(), "GLIBC_TUNABLES="+HugePagesTunable)
	_ = syscall.Exec(exe, os.Args, env) // Returns only on failure; the command then runs as it is.
}
