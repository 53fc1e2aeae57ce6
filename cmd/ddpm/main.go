// Command ddpm trains, samples and evaluates denoising diffusion models.
//
//	ddpm info                                   which backend runs the graphs
//	ddpm train  -preset mnist -dir runs/mnist   train (resumes if the folder has a checkpoint)
//	ddpm sample -dir runs/mnist -out grid.png   sample a PNG grid from the newest checkpoint
//	ddpm eval   -dir runs/mnist -json           bits/dim on the test set, sample quality
//	ddpm export -dir runs/mnist -out m.ddpm     the sampling weights of a run, as one model file
//	ddpm classifier                             the feature network of the sample-quality metrics
//
// Run "ddpm <command> -h" for the flags of a command.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
)

type command struct {
	name, summary string
	run           func(args []string, stdout io.Writer) error
}

var commands = []command{
	{"info", "print the backend (XLA plugin or pure Go), its version and devices", runInfo},
	{"train", "train a U-Net on MNIST (or an image folder); resumes from the run folder", runTrain},
	{"sample", "draw samples from a checkpoint: a grid, a progressive strip, an interpolation", runSample},
	{"eval", "evaluate a checkpoint: bits/dim and sample quality (JSON with -json)", runEval},
	{"export", "write a checkpoint's EMA weights as a model file (sampling weights and provenance)", runExport},
	{"classifier", "train the MNIST classifier behind the sample-quality metrics", runClassifier},
	{"bench", "measure training and sampling speed and memory (and PyTorch's, with -torch)", runBench},
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "ddpm: denoising diffusion probabilistic models (Ho, Jain & Abbeel 2020) on GoMLX")
	fmt.Fprintln(w, "\nUsage: ddpm <command> [flags]\n\nCommands:")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-10s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'ddpm <command> -h' for a command's flags. GOMLX_BACKEND overrides the backend choice.")
}

func main() {
	withHugePages()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run dispatches a command line; it returns the exit code.
func run(args []string, stdout, stderr io.Writer) (code int) {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	for _, c := range commands {
		if c.name != args[0] {
			continue
		}
		defer func() { // Graph-building code panics; the user gets an error, not a stack trace.
			if r := recover(); r != nil {
				fmt.Fprintf(stderr, "ddpm %s: %v\n", c.name, r)
				if os.Getenv("DDPM_DEBUG") != "" {
					fmt.Fprintf(stderr, "%s\n", debug.Stack())
				}
				code = 1
			}
		}()
		usageOutput = stderr // Flag errors, with the usage, go to stderr; asked-for help to stdout.
		if wantsHelp(args[1:]) {
			usageOutput = stdout
		}
		err := c.run(args[1:], stdout)
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		var st *exitStatus
		if errors.As(err, &st) {
			fmt.Fprintf(stderr, "ddpm %s: %v\n", c.name, st.err)
			return st.code
		}
		if err != nil {
			fmt.Fprintf(stderr, "ddpm %s: %v\n", c.name, err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(stderr, "ddpm: unknown command %q\n\n", args[0])
	usage(stderr)
	return 2
}

// flagOutput, when set, receives flag errors and usage instead of
// usageOutput.
var flagOutput io.Writer

// usageOutput is where run sends a command's flag errors and usage: stdout
// when the command line asks for help, stderr otherwise.
var usageOutput io.Writer

// wantsHelp reports whether a command's arguments ask for its usage.
func wantsHelp(args []string) bool {
	for _, a := range args {
		switch a {
		case "-h", "-help", "--help", "--h":
			return true
		case "--":
			return false
		}
	}
	return false
}

// newFlagSet returns a flag set that reports errors instead of exiting.
func newFlagSet(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet("ddpm "+name, flag.ContinueOnError)
	switch {
	case flagOutput != nil:
		fs.SetOutput(flagOutput)
	case usageOutput != nil:
		fs.SetOutput(usageOutput)
	}
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: ddpm %s [flags]\n\n%s\n\nFlags:\n", name, synopsis)
		fs.PrintDefaults()
	}
	return fs
}

// parse parses flags and rejects stray arguments.
func parse(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags go before it; see -h)", fs.Arg(0))
	}
	return nil
}

// Exit statuses of a training stopped by a signal after writing its
// checkpoint: those a shell reports for a process killed by the signal.
const (
	exitInterrupted = 130 // SIGINT
	exitTerminated  = 143 // SIGTERM
)

// exitStatus is an error that ends the command with its own exit status.
type exitStatus struct {
	code int
	err  error
}

func (e *exitStatus) Error() string { return e.err.Error() }
