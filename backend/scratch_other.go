//go:build !linux || !cgo

package backend

// Without cgo, or off Linux, scratch memory is the C library's business
// (see scratch_linux.go).

// ReusesScratch is false: there is nothing to reuse here.
func ReusesScratch() bool { return false }

func releaseScratch() int64         { return 0 }
func idleScratch() (int, int64)     { return 0, 0 }
func scratchProbe(size int) uintptr { return 0 }
func scratchFree(p uintptr)         {}
