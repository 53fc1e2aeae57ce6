//go:build !cgo

package backend

// ReleaseFreedMemory does nothing without cgo: there is no C heap to trim.
func ReleaseFreedMemory() bool { return false }
