//go:build cgo

package backend

/*
#cgo LDFLAGS: -ldl
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

// release calls glibc's malloc_trim(0) when the C library has it (musl and
// other libcs do not), found at run time so that nothing needs it to link.
static int release(void) {
	int (*trim)(size_t) = (int (*)(size_t))dlsym(RTLD_DEFAULT, "malloc_trim");
	if (trim == NULL) {
		return -1;
	}
	return trim(0);
}
*/
import "C"

// ReleaseFreedMemory hands memory that the C heap holds free back to the
// operating system, through glibc's malloc_trim(0), and reports whether the C
// library offers that (false without glibc or without cgo). The scratch
// blocks kept for reuse (see scratch_linux.go) go first.
//
// XLA compiles in C++, and most of what it allocates while compiling is freed
// once the executable exists; glibc keeps that freed memory in its arenas,
// where it counts towards the process's resident memory until reused. The
// backend returned by New calls this after every compilation. It takes a few
// milliseconds.
func ReleaseFreedMemory() bool {
	releaseScratch()
	return C.release() >= 0
}
