package unet

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func TestConfigValidation(t *testing.T) {
	base, _ := Preset("mnist")
	for _, tc := range []struct {
		name    string
		edit    func(c *Config)
		mention string
	}{
		{"odd stage size", func(c *Config) { c.ChannelMult = []int{1, 2, 2, 2} }, "cannot be halved"},
		{"groups", func(c *Config) { c.NumGroups = 5 }, "not divisible by 5 GroupNorm groups"},
		{"dropout", func(c *Config) { c.Dropout = 1 }, "dropout 1"},
		{"no stages", func(c *Config) { c.ChannelMult = nil }, "at least one ChannelMult"},
		{"odd channels", func(c *Config) { c.Channels, c.NumGroups = 33, 1 }, "must be even"},
	} {
		c := base
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: err=%v, want one mentioning %q", tc.name, err, tc.mention)
		}
	}
	if _, err := Preset("imagenet"); err == nil || !strings.Contains(err.Error(), "cifar10, mnist, tiny") {
		t.Errorf("unknown preset: err=%v", err)
	}
}

// GroupNorm with its initial scale 1 and offset 0 gives, in every (image,
// group), values whose mean is 0 and whose variance is v / (v + 1e-6), v the
// group's variance before; checked in float64 against the host.
func TestGroupNormStatistics(t *testing.T) {
	const B, H, W, C, G = 2, 3, 4, 6, 3
	rng := rand.New(rand.NewPCG(3, 3))
	x := make([]float64, B*H*W*C)
	for i := range x {
		x[i] = 5 + 3*rng.NormFloat64() + float64(i%C) // Channel-dependent offsets.
	}
	m := &Model{Config: Config{NumGroups: G}}
	e, err := context.NewExec(backend.MustNew(), context.New(), func(ctx *context.Context, xn *graph.Node) *graph.Node {
		return m.groupNorm(ctx, xn)
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := e.Exec(tensors.FromFlatDataAndDimensions(x, B, H, W, C))
	if err != nil {
		t.Fatal(err)
	}
	y := tensors.MustCopyFlatData[float64](out[0])
	for b := range B {
		for g := range G {
			var xs, ys []float64
			for p := range H * W {
				for c := g * C / G; c < (g+1)*C/G; c++ {
					xs = append(xs, x[(b*H*W+p)*C+c])
					ys = append(ys, y[(b*H*W+p)*C+c])
				}
			}
			mx, vx := meanVar(xs)
			my, vy := meanVar(ys)
			if math.Abs(my) > 1e-12 || math.Abs(vy-vx/(vx+1e-6)) > 1e-12 {
				t.Errorf("image %d group %d: mean %g, variance %g; want 0, %g (input mean %g)", b, g, my, vy, vx/(vx+1e-6), mx)
			}
		}
	}
}

// TestGroupNormGradient: groupNorm's gradients (through its dot-based sums
// over positions) equal, in float64, those of the textbook definition over a
// [B, H*W, G, C/G] view, with respect to the input, the scale and the offset,
// for a loss that weighs every output differently; and the input gradient
// matches central finite differences.
func TestGroupNormGradient(t *testing.T) {
	const B, H, W, C, G = 2, 5, 3, 6, 3
	rng := rand.New(rand.NewPCG(4, 4))
	random := func(n int, scale, offset float64) []float64 {
		v := make([]float64, n)
		for i := range v {
			v[i] = offset + scale*rng.NormFloat64()
		}
		return v
	}
	x, w := random(B*H*W*C, 2, 1), random(B*H*W*C, 1, 0)
	gamma, beta := random(C, 0.5, 1), random(C, 0.5, 0)
	reference := func(x, gamma, beta *graph.Node) *graph.Node {
		v := graph.Reshape(x, B, H*W, G, C/G)
		mean := graph.ReduceAndKeep(v, graph.ReduceMean, 1, 3)
		centered := graph.Sub(v, mean)
		variance := graph.ReduceAndKeep(graph.Square(centered), graph.ReduceMean, 1, 3)
		xhat := graph.Reshape(graph.Div(centered, graph.Sqrt(graph.AddScalar(variance, 1e-6))), B, H, W, C)
		return graph.Add(graph.Mul(xhat, graph.Reshape(gamma, 1, 1, 1, C)), graph.Reshape(beta, 1, 1, 1, C))
	}
	m := &Model{Config: Config{NumGroups: G}}
	ctx := context.New()
	ctx.In("gn").VariableWithValue("gamma", gamma)
	ctx.In("gn").VariableWithValue("beta", beta)
	e, err := context.NewExec(backend.MustNew(), ctx.Reuse(), func(ctx *context.Context, xn, wn, gn, bn *graph.Node) []*graph.Node {
		loss := graph.ReduceAllSum(graph.Mul(silu(m.groupNorm(ctx.In("gn"), xn)), wn))
		g := ctx.In("gn")
		want := graph.ReduceAllSum(graph.Mul(silu(reference(xn, gn, bn)), wn))
		return append(append([]*graph.Node{loss},
			graph.Gradient(loss, xn, g.GetVariable("gamma").ValueGraph(xn.Graph()), g.GetVariable("beta").ValueGraph(xn.Graph()))...),
			graph.Gradient(want, xn, gn, bn)...)
	})
	if err != nil {
		t.Fatal(err)
	}
	eval := func(x []float64) []*tensors.Tensor {
		out, err := e.Exec(tensors.FromFlatDataAndDimensions(x, B, H, W, C), tensors.FromFlatDataAndDimensions(w, B, H, W, C),
			gamma, beta)
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	out := eval(x)
	for i, name := range []string{"input", "scale", "offset"} {
		got, want := tensors.MustCopyFlatData[float64](out[1+i]), tensors.MustCopyFlatData[float64](out[4+i])
		for j := range want {
			if math.Abs(got[j]-want[j]) > 1e-9*math.Max(1, math.Abs(want[j])) {
				t.Errorf("%s gradient [%d] = %.12g, automatic differentiation of the definition gives %.12g", name, j, got[j], want[j])
			}
		}
	}
	dx := tensors.MustCopyFlatData[float64](out[1])
	const h = 1e-5
	for _, i := range []int{0, 13, len(x) / 2, len(x) - 1} {
		orig := x[i]
		x[i] = orig + h
		up := eval(x)[0].Value().(float64)
		x[i] = orig - h
		down := eval(x)[0].Value().(float64)
		x[i] = orig
		if fd := (up - down) / (2 * h); math.Abs(dx[i]-fd) > 1e-6*math.Max(1, math.Abs(fd)) {
			t.Errorf("input gradient [%d] = %.10g, finite difference %.10g", i, dx[i], fd)
		}
	}
}

func meanVar(v []float64) (float64, float64) {
	m := 0.0
	for _, x := range v {
		m += x / float64(len(v))
	}
	s := 0.0
	for _, x := range v {
		s += (x - m) * (x - m) / float64(len(v))
	}
	return m, s
}

// TestUpsampleConv: upsampleConv equals a 3x3 "same" convolution of the
// nearest-neighbour upsampled image, in value and in the gradients of a
// random linear function of it with respect to the input, the kernel and the
// bias (float64, shared variables), at odd and even sizes and non-square
// images.
func TestUpsampleConv(t *testing.T) {
	for _, withGrads := range []bool{false, true} {
		for _, hw := range [][2]int{{3, 4}, {4, 4}, {1, 2}, {5, 3}} {
			H, W := hw[0], hw[1]
			const B, C, O = 2, 3, 5
			rng := rand.New(rand.NewPCG(uint64(H), uint64(W)))
			x := make([]float64, B*H*W*C)
			r := make([]float64, B*2*H*2*W*O)
			for i := range x {
				x[i] = rng.NormFloat64()
			}
			for i := range r {
				r[i] = rng.NormFloat64()
			}
			ctx := context.New().WithInitializer(func(g *graph.Graph, s shapes.Shape) *graph.Node {
				v := make([]float64, s.Size())
				for i := range v {
					v[i] = rng.NormFloat64()
				}
				return graph.Reshape(graph.Const(g, v), s.Dimensions...)
			})
			// Pairs (upsampleConv's, the plain convolution's): the output, then
			// the gradients with respect to x, the kernel and the bias.
			e, err := context.NewExec(backend.MustNew(), ctx, func(ctx *context.Context, x, r *graph.Node) []*graph.Node {
				ctx = ctx.In("up")
				fast := upsampleConv(ctx, x, O)
				plain := conv(ctx.Reuse(), upsampleNearest(x), O, 3, 1, false)
				out := []*graph.Node{fast, plain}
				if withGrads {
					k := ctx.GetVariable("weights").ValueGraph(x.Graph())
					b := ctx.GetVariable("biases").ValueGraph(x.Graph())
					gf := graph.Gradient(graph.ReduceAllSum(graph.Mul(fast, r)), x, k, b)
					gp := graph.Gradient(graph.ReduceAllSum(graph.Mul(plain, r)), x, k, b)
					for i := range gf {
						out = append(out, gf[i], gp[i])
					}
				}
				return out
			})
			if err != nil {
				t.Fatal(err)
			}
			out, err := e.Exec(tensors.FromFlatDataAndDimensions(x, B, H, W, C), tensors.FromFlatDataAndDimensions(r, B, 2*H, 2*W, O))
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < len(out); i += 2 {
				name := []string{"output", "input gradient", "kernel gradient", "bias gradient"}[i/2]
				a, p := out[i], out[i+1]
				if !a.Shape().Equal(p.Shape()) {
					t.Fatalf("%dx%d: %s shaped %s, want %s", H, W, name, a.Shape(), p.Shape())
				}
				got, want := tensors.MustCopyFlatData[float64](a), tensors.MustCopyFlatData[float64](p)
				for j := range want {
					if math.Abs(got[j]-want[j]) > 1e-12*math.Max(1, math.Abs(want[j])) {
						t.Fatalf("%dx%d: %s element %d is %.15g, want %.15g", H, W, name, j, got[j], want[j])
					}
				}
			}
		}
	}
}
