package dotgrad

import (
	"fmt"
	"slices"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// TestGoMLXInternals guards the one thing this package takes from GoMLX
// beyond its public API, the DotGeneral node's unexported axes read by
// axes(), so that an upgrade that moves them fails here, by name.
func TestGoMLXInternals(t *testing.T) {
	g := NewGraph(backend.MustNew(), "internals")
	a := Parameter(g, "a", shapes.Make(dtypes.Float32, 5, 2, 3))
	b := Parameter(g, "b", shapes.Make(dtypes.Float32, 5, 3, 4))
	y := DotGeneral(a, []int{2}, []int{0}, b, []int{1}, []int{0})
	if y.Type() != NodeTypeDotGeneral {
		t.Fatalf("DotGeneral builds a %s node: the gradient rule registered for DotGeneral no longer applies", y.Type())
	}
	var lc, lb, rc, rb []int
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		lc, lb, rc, rb = axes(y)
		return nil
	}()
	if err != nil {
		t.Fatalf("axes() cannot read GoMLX's DotGeneral axes (%v): the unexported node structure it relies on changed; update axes() in dotgrad.go", err)
	}
	if !slices.Equal(lc, []int{2}) || !slices.Equal(lb, []int{0}) || !slices.Equal(rc, []int{1}) || !slices.Equal(rb, []int{0}) {
		t.Errorf("axes() = %v %v %v %v, want [2] [0] [1] [0]: GoMLX's DotGeneral fields changed meaning", lc, lb, rc, rb)
	}
}
