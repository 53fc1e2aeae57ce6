package convgrad

import (
	"fmt"
	"math"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// TestBroadcastSumClosedForm checks the gradient of L = sum((x + b) * v)
// with respect to b, broadcast from to x's shape, against its definition
// summed on the host: dL/db[j] = sum of v[i] over every position i that
// b[j] was broadcast to. Cases cover a convolution's bias (leading axes,
// last one at most 32 long, so reduced first), a per-image offset (batched),
// a broadcast axis longer than 32 (one dot), a single output channel, b on
// either side of the addition, and the forms left to GoMLX's reduction
// (axes not contiguous, 32 numbers or fewer); the graph uses a dot exactly
// when the rule applies. Also dL/dx = v.
func TestBroadcastSumClosedForm(t *testing.T) {
	be := xlaCPU(t)
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float64} {
		for _, c := range []struct {
			x, b      []int
			bFirst    bool
			rewritten bool
		}{
			{[]int{4, 6, 5, 3}, []int{1, 1, 1, 3}, false, true}, // conv bias: 120 numbers per channel
			{[]int{4, 6, 5, 3}, []int{1, 1, 1, 3}, true, true},
			{[]int{4, 8, 5, 3}, []int{4, 1, 1, 3}, false, true}, // per-image offset: 40 per image and channel
			{[]int{4, 40, 3}, []int{1, 1, 3}, false, true},      // last broadcast axis 40 > 32: one dot
			{[]int{40, 3}, []int{1, 3}, false, true},
			{[]int{4, 6, 5, 1}, []int{1, 1, 1, 1}, false, true},
			{[]int{4, 6, 5, 3}, []int{1, 6, 1, 3}, false, false}, // not contiguous
			{[]int{4, 6, 5, 3}, []int{4, 1, 1, 3}, false, false}, // 30 numbers
			{[]int{2, 3, 3}, []int{1, 1, 3}, false, false},
		} {
			name := fmt.Sprintf("%s/%v+%v", dt, c.x, c.b)
			var dots int
			e, err := NewExec(be, func(g *Graph) []*Node {
				rng := RNGStateFromSeedForGraph(g, 11)
				rng, x := RandomNormal(rng, shapes.Make(dt, c.x...))
				rng, b := RandomNormal(rng, shapes.Make(dt, c.b...))
				_, v := RandomNormal(rng, shapes.Make(dt, c.x...))
				y := Add(x, b)
				if c.bFirst {
					y = Add(b, x)
				}
				grads := Gradient(ReduceAllSum(Mul(y, v)), x, b)
				for _, n := range g.Nodes() {
					if n.Type() == NodeTypeDotGeneral {
						dots++
					}
				}
				return append(grads, v)
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := e.Exec()
			e.Finalize()
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			dx, db, v := flat64(out[0]), flat64(out[1]), flat64(out[2])
			if got := dots > 0; got != c.rewritten {
				t.Errorf("%s: graph has %d dots; want the rule applied: %v", name, dots, c.rewritten)
			}
			for i := range v {
				if dx[i] != v[i] {
					t.Fatalf("%s: dL/dx[%d] = %g, want v = %g", name, i, dx[i], v[i])
				}
			}
			want, scale := make([]float64, len(db)), make([]float64, len(db))
			for i := range v {
				j := broadcastIndex(i, c.x, c.b)
				want[j] += v[i]
				scale[j] += math.Abs(v[i])
			}
			tol := 1e-12
			if dt == dtypes.Float32 {
				tol = 1e-6
			}
			for j := range want {
				if math.Abs(db[j]-want[j]) > tol*(1+scale[j]) {
					t.Errorf("%s: dL/db[%d] = %g, want %g", name, j, db[j], want[j])
				}
			}
		}
	}
}

// broadcastIndex is the flat index into b (of dims bDims, 1 where
// broadcast) of the element broadcast to flat index i of dims xDims.
func broadcastIndex(i int, xDims, bDims []int) int {
	j, stride := 0, 1
	for a := len(xDims) - 1; a >= 0; a-- {
		coord := i % xDims[a]
		i /= xDims[a]
		if bDims[a] != 1 {
			j += coord * stride
		}
		stride *= bDims[a]
	}
	return j
}

func flat64(t *tensors.Tensor) []float64 {
	var out []float64
	t.MustConstFlatData(func(f any) {
		switch f := f.(type) {
		case []float32:
			for _, x := range f {
				out = append(out, float64(x))
			}
		case []float64:
			out = append(out, f...)
		}
	})
	return out
}
