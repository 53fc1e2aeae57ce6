package unet

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/gomlx/gomlx/backends"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// hostInit initialises every variable from a host-side generator seeded by
// the variable's shape, so both backends start from identical weights.
func hostInit(g *Graph, shape shapes.Shape) *Node {
	rng := rand.New(rand.NewPCG(uint64(shape.Size()), uint64(shape.Rank())))
	vals := make([]float64, shape.Size())
	for i := range vals {
		vals[i] = 0.3 * rng.NormFloat64()
	}
	return Reshape(Const(g, shapes.CastAsDType(vals, shape.DType)), shape.Dimensions...)
}

// conformanceRun evaluates, on one backend, a block of the U-Net's layers
// (conv, GroupNorm, SiLU, self-attention, nearest upsampling and its
// convolution in upsampleConv's phase form, strided conv) and the gradients of
// a scalar loss with respect to every weight. The convolutions' gradients
// come from internal/convgrad on both backends (GoMLX v0.26.0's own need
// an op the pure-Go backend lacks).
func conformanceRun(t *testing.T, b backends.Backend, x *tensors.Tensor) [][]float64 {
	m := &Model{Config: Config{NumGroups: 4}}
	ctx := context.New().WithInitializer(hostInit)
	e, err := context.NewExec(b, ctx, func(ctx *context.Context, x *Node) []*Node {
		h := conv(ctx.In("c1"), x, 8, 3, 1, false)
		h = silu(m.groupNorm(ctx.In("gn"), h))
		h = m.attnBlock(ctx.In("attn"), h)
		h = upsampleConv(ctx.In("up"), h, 6)
		down := conv(ctx.In("down"), h, 4, 3, 2, false)
		loss := ReduceAllSum(Square(down))
		var wrt []*Node
		for v := range ctx.IterVariables() {
			if v.Trainable && v.InUseByGraph(x.Graph()) {
				wrt = append(wrt, v.ValueGraph(x.Graph()))
			}
		}
		return append([]*Node{h, down, loss}, Gradient(loss, append(wrt, x)...)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Exec(x)
	if err != nil {
		t.Fatalf("%s: %v", b.Name(), err)
	}
	res := make([][]float64, len(out))
	for i, o := range out {
		_ = o.ConstFlatData(func(f any) {
			for _, v := range f.([]float64) {
				res[i] = append(res[i], v)
			}
		})
	}
	return res
}

// TestXLAConformsToPureGo: the same graph and its gradients agree on XLA and
// on the pure-Go backend to 1e-9 relative in float64 (the two backends sum
// in different orders, so bit equality is not expected).
func TestXLAConformsToPureGo(t *testing.T) {
	plugin := backend.FindPlugin("cpu")
	if plugin == "" {
		t.Skip("no PJRT CPU plugin installed (scripts/install-pjrt.sh): nothing to compare with pure Go")
	}
	xb, err := backends.NewWithConfig("xla:" + plugin + ",shared_buffers")
	if err != nil {
		t.Fatal(err)
	}
	gb, err := backends.NewWithConfig(backend.PureGoConfig)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(5, 5))
	vals := make([]float64, 2*8*8*3)
	for i := range vals {
		vals[i] = rng.NormFloat64()
	}
	want := conformanceRun(t, gb, tensors.FromFlatDataAndDimensions(vals, 2, 8, 8, 3))
	got := conformanceRun(t, xb, tensors.FromFlatDataAndDimensions(vals, 2, 8, 8, 3))
	names := []string{"block output", "strided conv", "loss"}
	for i := range want {
		name := "gradient"
		if i < len(names) {
			name = names[i]
		}
		if len(got[i]) != len(want[i]) {
			t.Fatalf("%s %d: %d values on XLA, %d on pure Go", name, i, len(got[i]), len(want[i]))
		}
		for j := range want[i] {
			if d := math.Abs(got[i][j] - want[i][j]); d > 1e-9*math.Max(1, math.Abs(want[i][j])) {
				t.Fatalf("%s %d, element %d: XLA %.15g, pure Go %.15g", name, i, j, got[i][j], want[i][j])
			}
		}
	}
}

// TestConvGradientFiniteDifferences checks the gradients of the U-Net's
// convolutions (same padding, strides 1 and 2) on the default backend
// against central finite differences in float64: relative error below 1e-6.
func TestConvGradientFiniteDifferences(t *testing.T) {
	b := backend.MustNew()
	rng := rand.New(rand.NewPCG(9, 9))
	x := make([]float64, 2*6*6*3)
	for i := range x {
		x[i] = rng.NormFloat64()
	}
	k1 := make([]float64, 3*3*3*4)
	k2 := make([]float64, 3*3*4*2)
	for i := range k1 {
		k1[i] = 0.3 * rng.NormFloat64()
	}
	for i := range k2 {
		k2[i] = 0.3 * rng.NormFloat64()
	}
	lossFn := func(x, k1, k2 *Node) *Node {
		h := Tanh(Convolve(x, k1).StridePerAxis(1, 1).PadSame().Done())
		h = Convolve(h, k2).StridePerAxis(2, 2).PadSame().Done()
		return ReduceAllSum(Square(h))
	}
	e, err := NewExec(b, func(x, k1, k2 *Node) []*Node {
		return append([]*Node{lossFn(x, k1, k2)}, Gradient(lossFn(x, k1, k2), x, k1, k2)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	args := func(x, k1, k2 []float64) []any {
		return []any{tensors.FromFlatDataAndDimensions(x, 2, 6, 6, 3), tensors.FromFlatDataAndDimensions(k1, 3, 3, 3, 4),
			tensors.FromFlatDataAndDimensions(k2, 3, 3, 4, 2)}
	}
	eval := func(x, k1, k2 []float64) []*tensors.Tensor {
		out, err := e.Exec(args(x, k1, k2)...)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	out := eval(x, k1, k2)
	grads := make([][]float64, 3)
	for i := range grads {
		_ = out[i+1].ConstFlatData(func(f any) { grads[i] = append([]float64(nil), f.([]float64)...) })
	}
	params := [][]float64{x, k1, k2}
	const h = 1e-5
	for p := range params {
		for _, idx := range []int{0, 7, len(params[p]) / 2, len(params[p]) - 1} {
			orig := params[p][idx]
			params[p][idx] = orig + h
			up := eval(params[0], params[1], params[2])[0].Value().(float64)
			params[p][idx] = orig - h
			down := eval(params[0], params[1], params[2])[0].Value().(float64)
			params[p][idx] = orig
			fd := (up - down) / (2 * h)
			if g := grads[p][idx]; math.Abs(g-fd) > 1e-6*math.Max(1, math.Abs(fd)) {
				t.Errorf("input %d element %d: gradient %.10g, finite difference %.10g", p, idx, g, fd)
			}
		}
	}
}
