//go:build !linux

package main

// withHugePages does nothing outside Linux (see hugepages_linux.go).
func withHugePages() {}
