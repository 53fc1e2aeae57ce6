package convgrad

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// TestGoMLXInternals guards what this package takes from GoMLX beyond its
// public API, so that an upgrade that moves it fails here, by name, rather
// than silently in a training run: the ConvGeneral node's unexported
// parameter struct read by read(), the VJP registration that init()
// replaces, and the backend description that onXLACPU parses.
func TestGoMLXInternals(t *testing.T) {
	b := backend.MustNew()
	g := NewGraph(b, "internals")
	x := Parameter(g, "x", shapes.Make(dtypes.Float32, 2, 9, 9, 3))
	k := Parameter(g, "k", shapes.Make(dtypes.Float32, 3, 3, 3, 4))
	y := Convolve(x, k).StridePerDim(2, 1).PaddingPerDim([][2]int{{1, 1}, {0, 2}}).Done()
	if y.Type() != NodeTypeConvGeneral {
		t.Fatalf("Convolve builds a %s node, not ConvGeneral: the gradient rule registered for ConvGeneral no longer applies", y.Type())
	}
	var p params
	err := func() (err error) {
		defer func() {
			if r := recover(); r != nil {
				err = fmt.Errorf("%v", r)
			}
		}()
		p = read(y)
		return nil
	}()
	if err != nil {
		t.Fatalf("read() cannot read GoMLX's ConvGeneral parameters (%v): the unexported node structure it relies on changed; update read() in convgrad.go", err)
	}
	if !slices.Equal(p.strides, []int{2, 1}) || !slices.Equal(p.paddings, [][2]int{{1, 1}, {0, 2}}) || p.channelGroupCount != 1 || p.batchGroupCount != 1 {
		t.Errorf("read() = strides %v, paddings %v, groups %d/%d; want [2 1], [[1 1] [0 2]], 1/1: GoMLX's ConvGeneral fields changed meaning", p.strides, p.paddings, p.channelGroupCount, p.batchGroupCount)
	}
	if VJPRegistration[NodeTypeConvGeneral] == nil || Original == nil {
		t.Error("GoMLX's VJP registry has no ConvGeneral entry: the replacement is not installed")
	}
	if d := strings.ToLower(b.Description()); b.Name() == "xla" && strings.Contains(d, "cpu_plugin") && !onXLACPU(b) {
		t.Errorf("the XLA CPU plugin's description %q is no longer recognised by onXLACPU: the CPU formulations are off", b.Description())
	}
}
