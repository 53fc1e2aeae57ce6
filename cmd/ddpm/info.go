package main

import (
	"fmt"
	"io"
	"os"
	"runtime"

	"github.com/diffusion-go/ddpm/backend"
)

func runInfo(args []string, stdout io.Writer) error {
	fs := newFlagSet("info", "Prints which GoMLX backend runs the graphs, why it was chosen, the PJRT plugin and devices.")
	if err := parse(fs, args); err != nil {
		return err
	}
	b, err := backend.New()
	if err != nil {
		return err
	}
	c := backend.Chosen()
	fmt.Fprintf(stdout, "backend:  %s\n", b.Name())
	fmt.Fprintf(stdout, "details:  %s\n", b.Description())
	fmt.Fprintf(stdout, "config:   %s\n", c.Config)
	fmt.Fprintf(stdout, "reason:   %s\n", c.Reason)
	if c.Plugin != "" {
		fmt.Fprintf(stdout, "plugin:   %s\n", c.Plugin)
	}
	if c.XLAFlags != "" {
		fmt.Fprintf(stdout, "xla:      added %s to XLA_FLAGS\n", c.XLAFlags)
	}
	if v, ok := os.LookupEnv("GLIBC_TUNABLES"); ok {
		fmt.Fprintf(stdout, "glibc:    GLIBC_TUNABLES=%s\n", v)
	}
	if backend.ReusesScratch() {
		fmt.Fprintf(stdout, "scratch:  XLA's scratch memory kept between runs (DDPM_REUSE_SCRATCH=0 turns it off)\n")
	} else {
		fmt.Fprintf(stdout, "scratch:  XLA's scratch memory allocated afresh on every run\n")
	}
	fmt.Fprintf(stdout, "devices:  %d\n", b.NumDevices())
	fmt.Fprintf(stdout, "host:     %s/%s, %d CPUs, %s\n", runtime.GOOS, runtime.GOARCH, runtime.NumCPU(), runtime.Version())
	return nil
}
