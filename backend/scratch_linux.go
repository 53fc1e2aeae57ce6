//go:build cgo

package backend

/*
#include <stddef.h>
#include <stdint.h>
size_t ddpm_release_scratch(void);
int ddpm_scratch_on(void);
int ddpm_scratch_idle(size_t *bytes);
uintptr_t ddpm_scratch_probe(size_t size);
void ddpm_scratch_free(uintptr_t p);
*/
import "C"

// Scratch memory. XLA's CPU runtime allocates an executable's scratch memory
// (its intermediate values: about 375 MiB for an mnist training step) with
// posix_memalign on every run, and frees it at the end. glibc serves blocks
// that large with a fresh mmap and unmaps them when freed, so every run had
// the kernel fault in and zero the whole buffer again (clear_page_erms was
// 10% of a profiled gradient pass). scratch_linux.c keeps up to two such
// blocks (32 MiB or more) when freed and hands them back for the next request
// of the same size: mnist training step 0.586-0.607 → 0.522-0.559 s,
// sampling step 131-139 → 120-128 ms (4 alternated rounds of ddpm bench
// -worker), at the same peak memory (1.15-1.23 GiB). A full 1200-step mnist
// training run: 13 min 7 s → 10 min 56 s, peak memory 1.33 → 1.69 GiB (one
// more block; keeping only one left that run at the speed without reuse).
// With convolutions on oneDNN since (see CPUSettings), the same run peaks at
// 1.18 GiB. Kept blocks go back to the C library whenever the backend
// compiles (see trimming) and through ReleaseFreedMemory.
// DDPM_REUSE_SCRATCH=0 in the environment at start-up turns the reuse off.

// ReusesScratch tells whether XLA's scratch blocks are kept for reuse in
// this process: on Linux with cgo, unless DDPM_REUSE_SCRATCH=0 was set at
// start-up.
func ReusesScratch() bool { return C.ddpm_scratch_on() != 0 }

// releaseScratch hands the idle kept blocks back to the C library and
// returns their size in bytes.
func releaseScratch() int64 { return int64(C.ddpm_release_scratch()) }

// idleScratch returns the number of idle kept blocks and their bytes.
func idleScratch() (int, int64) {
	var bytes C.size_t
	n := C.ddpm_scratch_idle(&bytes)
	return int(n), int64(bytes)
}

// scratchProbe allocates size bytes with posix_memalign, as XLA does, and
// returns the address (0 on failure); scratchFree frees it. For the tests.
func scratchProbe(size int) uintptr { return uintptr(C.ddpm_scratch_probe(C.size_t(size))) }
func scratchFree(p uintptr)         { C.ddpm_scratch_free(C.uintptr_t(p)) }
