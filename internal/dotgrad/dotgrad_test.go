package dotgrad

import (
	"math"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// TestMatchesGoMLXGradient: the replacement gives GoMLX's own gradients
// (which are the definition, just costly) on dot products with batch axes,
// several contracting axes in scrambled order, and the einsums of attention.
func TestMatchesGoMLXGradient(t *testing.T) {
	b := backend.MustNew()
	for _, tc := range []struct {
		name     string
		lhs, rhs []int
		op       func(a, b *Node) *Node
	}{
		{"matmul", []int{3, 4}, []int{4, 5}, func(a, b *Node) *Node { return Dot(a, b) }},
		{"attention scores", []int{2, 6, 4}, []int{2, 7, 4}, func(a, b *Node) *Node { return Einsum("bic,bjc->bij", a, b) }},
		{"attention values", []int{2, 6, 7}, []int{2, 7, 4}, func(a, b *Node) *Node { return Einsum("bij,bjc->bic", a, b) }},
		{"dense", []int{2, 6, 4}, []int{4, 3}, func(a, b *Node) *Node { return Einsum("bic,cd->bid", a, b) }},
		{"scrambled axes", []int{2, 3, 4, 5}, []int{2, 5, 6, 3}, func(a, b *Node) *Node {
			return DotGeneral(a, []int{3, 1}, []int{0}, b, []int{1, 3}, []int{0})
		}},
		{"batch not first", []int{3, 2, 4}, []int{4, 2, 5}, func(a, b *Node) *Node {
			return DotGeneral(a, []int{2}, []int{1}, b, []int{0}, []int{1})
		}},
	} {
		fn := func(g *Graph) []*Node {
			rng := RNGStateFromSeedForGraph(g, 1)
			rng, a := RandomNormal(rng, shapes.Make(dtypes.Float64, tc.lhs...))
			rng, bb := RandomNormal(rng, shapes.Make(dtypes.Float64, tc.rhs...))
			out := tc.op(a, bb)
			_, w := RandomNormal(rng, out.Shape())
			return Gradient(ReduceAllSum(Mul(out, w)), a, bb)
		}
		run := func() [][]float64 {
			e, err := NewExec(b, fn)
			if err != nil {
				t.Fatal(err)
			}
			defer e.Finalize()
			outs, err := e.Exec()
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			res := make([][]float64, len(outs))
			for i, o := range outs {
				_ = o.ConstFlatData(func(f any) { res[i] = append(res[i], f.([]float64)...) })
			}
			return res
		}
		got := run()
		VJPRegistration[NodeTypeDotGeneral] = Original
		want := run()
		VJPRegistration[NodeTypeDotGeneral] = vjp
		for k := range want {
			for i := range want[k] {
				if math.Abs(got[k][i]-want[k][i]) > 1e-12*math.Max(1, math.Abs(want[k][i])) {
					t.Fatalf("%s: gradient %d element %d: %g, GoMLX's %g", tc.name, k, i, got[k][i], want[k][i])
				}
			}
		}
	}
}
