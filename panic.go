package ddpm

import "github.com/pkg/errors"

// panicf reports a graph-building error the way GoMLX does: a panic carrying
// an error with a stack trace. Exec turns it back into an error.
func panicf(format string, args ...any) {
	panic(errors.Errorf(format, args...))
}
