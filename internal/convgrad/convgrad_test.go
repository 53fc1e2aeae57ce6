package convgrad

import (
	"math"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	timage "github.com/gomlx/gomlx/pkg/core/tensors/images"
)

func xlaCPU(t testing.TB) backends.Backend {
	t.Helper()
	b := backend.MustNew()
	if !onXLACPU(b) {
		t.Skipf("the slicing applies to XLA CPU only; backend is %s", b.Description())
	}
	return b
}

// sliced lowers the slice size so that small test convolutions are sliced
// (in slices of any number of images), and restores it afterwards.
func sliced(t *testing.T, floats int) {
	t.Helper()
	oldFloats, oldPowers := sliceFloats, powersOfTwo
	sliceFloats, powersOfTwo = floats, false
	t.Cleanup(func() { sliceFloats, powersOfTwo = oldFloats, oldPowers })
}

type convCase struct {
	name         string
	x, k         []int
	conv         func(x, k *Node) *Node
	batch, image int  // batch size; floats per batch entry of the input or of the output, whichever is larger
	pointwise    bool // a 1x1 kernel at stride 1: its kernel gradient is a dot, not sliced
	phases       int  // convolutions of the input gradient of a strided convolution (phaseInputGradient); 0 for 1
}

var cases = []convCase{
	{"3x3 same", []int{10, 6, 6, 5}, []int{3, 3, 5, 6},
		func(x, k *Node) *Node { return Convolve(x, k).PadSame().Done() }, 10, 6 * 6 * 6, false, 0},
	{"3x3 stride 2", []int{10, 6, 6, 3}, []int{3, 3, 3, 4},
		func(x, k *Node) *Node { return Convolve(x, k).StridePerAxis(2, 2).PadSame().Done() }, 10, 6 * 6 * 3, false, 4},
	{"1x1", []int{9, 5, 5, 6}, []int{1, 1, 6, 2},
		func(x, k *Node) *Node { return Convolve(x, k).PadSame().Done() }, 9, 5 * 5 * 6, true, 0},
	{"1x1 stride 2", []int{9, 5, 5, 6}, []int{1, 1, 6, 2},
		func(x, k *Node) *Node { return Convolve(x, k).StridePerAxis(2, 2).NoPadding().Done() }, 9, 5 * 5 * 6, false, 0},
	{"1x1 channels first", []int{8, 3, 6, 6}, []int{4, 3, 1, 1},
		func(x, k *Node) *Node {
			return Convolve(x, k).ChannelsAxis(timage.ChannelsFirst).PadSame().Done() // Kernel [O, I, 1, 1].
		}, 8, 4 * 6 * 6, true, 0},
	{"dilated, no padding", []int{7, 9, 9, 2}, []int{3, 3, 2, 3},
		func(x, k *Node) *Node { return Convolve(x, k).DilationPerAxis(2, 2).NoPadding().Done() }, 7, 9 * 9 * 2, false, 0},
	{"channels first", []int{8, 3, 6, 6}, []int{4, 3, 3, 3},
		func(x, k *Node) *Node {
			return Convolve(x, k).ChannelsAxis(timage.ChannelsFirst).PadSame().Done() // Images [B, C, H, W], kernel [O, I, H, W].
		}, 8, 4 * 6 * 6, false, 0},
}

// kernelGradientOf returns the kernel gradient of a random loss of the case's
// convolution, and the number of convolutions and of dot products in the
// graph that computed it.
func kernelGradientOf(t *testing.T, b backends.Backend, c convCase) (dk []float64, convs, dots int) {
	t.Helper()
	e, err := NewExec(b, func(g *Graph) []*Node {
		rng := RNGStateFromSeedForGraph(g, 7)
		rng, x := RandomNormal(rng, shapes.Make(dtypes.Float64, c.x...))
		rng, k := RandomNormal(rng, shapes.Make(dtypes.Float64, c.k...))
		y := c.conv(x, k)
		_, w := RandomNormal(rng, y.Shape())
		grads := Gradient(ReduceAllSum(Mul(y, w)), x, k)
		convs, dots = 0, 0
		for _, n := range g.Nodes() {
			switch n.Type() {
			case NodeTypeConvGeneral:
				convs++
			case NodeTypeDotGeneral:
				dots++
			}
		}
		return grads
	})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Finalize()
	out, err := e.Exec()
	if err != nil {
		t.Fatalf("%s: %v", c.name, err)
	}
	return tensors.MustCopyFlatData[float64](out[1]), convs, dots
}

// TestMatchesGoMLXGradient: the kernel gradient summed over batch slices, or
// computed as one dot for 1x1 kernels at stride 1, equals GoMLX's own, for
// strides, 1x1 kernels, dilation, channels-first layouts and batches that
// the slices do not divide evenly; and the graph really was sliced, or
// really used a dot.
func TestMatchesGoMLXGradient(t *testing.T) {
	b := xlaCPU(t)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			sliced(t, 3*c.image) // Slices of 3 entries: 10 = 3+3+3+1, 9 = 3+3+3, 7 = 3+3+1, 8 = 3+3+2.
			if got := ImagesPerSlice(c.image, 0); got != 3 {
				t.Fatalf("ImagesPerSlice = %d, want 3", got)
			}
			got, convs, dots := kernelGradientOf(t, b, c)
			VJPRegistration[NodeTypeConvGeneral] = Original
			want, plain, _ := kernelGradientOf(t, b, c)
			VJPRegistration[NodeTypeConvGeneral] = vjp
			// Forward, input gradient (one per phase when strided), kernel
			// gradient; or forward, input gradient and one per slice; or
			// forward and input gradient convolutions and the kernel
			// gradient's dot.
			dxConvs := max(c.phases, 1)
			wantConvs, wantDots := 1+dxConvs+(c.batch+2)/3, 0
			if c.pointwise {
				wantConvs, wantDots = 1+dxConvs, 1
			}
			if plain != 3 || convs != wantConvs || dots != wantDots {
				t.Errorf("graph has %d convolutions and %d dots here and %d convolutions with GoMLX's rule, want %d, %d and 3", convs, dots, plain, wantConvs, wantDots)
			}
			sameAsGoMLX(t, got, want)
		})
	}
}

// sameAsGoMLX fails the test unless the kernel gradient got equals GoMLX's
// (want) to 1e-9, relative.
func sameAsGoMLX(t *testing.T, got, want []float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("kernel gradient has %d values, want %d", len(got), len(want))
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-9*(1+math.Abs(want[i])) {
			t.Fatalf("kernel gradient [%d] = %g, GoMLX's %g", i, got[i], want[i])
		}
	}
}

// TestImagesPerSlice: the power of two nearest to the number of batch
// entries that fit in SliceFloats, by the larger of input and output, and
// never fewer than one.
func TestImagesPerSlice(t *testing.T) {
	for _, c := range []struct{ in, out, want int }{
		{28 * 28 * 32, 28 * 28 * 32, 8},  // mnist first stage: 2^18 / 25088 = 10.4
		{14 * 14 * 64, 14 * 14 * 64, 16}, // 20.9
		{28 * 28 * 96, 28 * 28 * 32, 4},  // 3.5
		{28 * 28 * 64, 28 * 28 * 32, 4},  // 5.2
		{32 * 32 * 128, 32 * 32 * 128, 2},
		{32 * 32 * 384, 32 * 32 * 128, 1}, // 0.67
		{7 * 7 * 64, 7 * 7 * 64, 64},      // 83.6: the whole batch of 64, not sliced.
		{1 << 20, 1, 1},
		{0, 0, SliceFloats},
	} {
		if got := ImagesPerSlice(c.in, c.out); got != c.want {
			t.Errorf("ImagesPerSlice(%d, %d) = %d, want %d", c.in, c.out, got, c.want)
		}
	}
}

// TestGradientsClosedForm checks both gradients of L = sum(conv(x, k) * v)
// against their definitions computed on the host, for even- and odd-sized
// kernels, strides, dilations and asymmetric paddings, 1x1 kernels (a dot
// at stride 1 without padding), with the kernel gradient sliced (2+2+1
// images) and not; and inputGradient, called directly, in every case:
//
//	y[n,h,w,o] = sum over i, j, c of x[n, s h + d i - p0, s w + d j - q0, c] k[i,j,c,o]
//	dL/dx[n,r,q,c] = sum of k[i,j,c,o] v[n,h,w,o] over s h + d i - p0 = r, s w + d j - q0 = q
//	dL/dk[i,j,c,o] = sum of x[n, s h + d i - p0, s w + d j - q0, c] v[n,h,w,o]
//
// GoMLX v0.26.0's own input gradient fails the even-kernel cases (and panics
// building the padded 2x2 one).
func TestGradientsClosedForm(t *testing.T) {
	b := backend.MustNew()
	type gcase struct {
		name         string
		kh, kw, s, d int
		pads         [][2]int
	}
	for _, c := range []gcase{
		{"2x2 valid", 2, 2, 1, 1, [][2]int{{0, 0}, {0, 0}}},
		{"2x2 padded before", 2, 2, 1, 1, [][2]int{{1, 0}, {1, 0}}},
		{"2x2 padded after", 2, 2, 1, 1, [][2]int{{0, 1}, {0, 1}}},
		{"4x4 stride 2", 4, 4, 2, 1, [][2]int{{1, 1}, {1, 1}}},
		{"2x3 mixed", 2, 3, 1, 1, [][2]int{{1, 0}, {1, 1}}},
		{"3x3 stride 2 same", 3, 3, 2, 1, [][2]int{{1, 1}, {1, 1}}},
		{"2x2 dilated 2", 2, 2, 1, 2, [][2]int{{1, 1}, {0, 2}}},
		{"2x2 dilated 3", 2, 2, 1, 3, [][2]int{{2, 1}, {1, 2}}},
		{"1x1", 1, 1, 1, 1, [][2]int{{0, 0}, {0, 0}}},
		{"1x1 stride 2", 1, 1, 2, 1, [][2]int{{0, 0}, {0, 0}}},
		{"1x1 padded", 1, 1, 1, 1, [][2]int{{1, 0}, {0, 2}}},
	} {
		// 2 -> 3 channels: the kernel gradient of a thin convolution where it
		// applies (stride 1, no dilation, on XLA CPU); 5 -> 6: a
		// convolution, whole or in slices.
		for _, slicedToo := range []bool{false, true} {
			for _, channels := range [][2]int{{2, 3}, {5, 6}} {
				const N, S = 5, 7
				C, O := channels[0], channels[1]
				if slicedToo {
					if !onXLACPU(b) {
						continue
					}
					sliced(t, 2*S*S*max(C, O))
				}
				xs := make([]float64, N*S*S*C)
				for i := range xs {
					xs[i] = math.Sin(float64(i)*0.37) + 0.1*float64(i%5)
				}
				ks := make([]float64, c.kh*c.kw*C*O)
				for i := range ks {
					ks[i] = math.Cos(float64(i)*0.71) - 0.05*float64(i%3)
				}
				e, err := NewExec(b, func(x, k *Node) []*Node {
					y := Convolve(x, k).StridePerAxis(c.s, c.s).DilationPerAxis(c.d, c.d).PaddingPerDim(c.pads).Done()
					v := Cos(MulScalar(Iota(x.Graph(), y.Shape(), 0), 0.3)) // Any fixed output gradient.
					v = Add(v, MulScalar(Iota(x.Graph(), y.Shape(), 3), 0.5))
					v = Add(v, Sin(Iota(x.Graph(), y.Shape(), 1)))
					g := Gradient(ReduceAllSum(Mul(y, v)), x, k)
					return []*Node{g[0], g[1], inputGradient(x, k, v, read(y)), v}
				})
				if err != nil {
					t.Fatal(err)
				}
				out, err := e.Exec(tensors.FromFlatDataAndDimensions(xs, N, S, S, C), tensors.FromFlatDataAndDimensions(ks, c.kh, c.kw, C, O))
				if err != nil {
					t.Fatalf("%s: %v", c.name, err)
				}
				e.Finalize()
				v := tensors.MustCopyFlatData[float64](out[3])
				H, W := out[3].Shape().Dimensions[1], out[3].Shape().Dimensions[2]
				dx := make([]float64, len(xs))
				dk := make([]float64, len(ks))
				for n := range N {
					for h := range H {
						for w := range W {
							for i := range c.kh {
								for j := range c.kw {
									r, q := c.s*h+c.d*i-c.pads[0][0], c.s*w+c.d*j-c.pads[1][0]
									if r < 0 || r >= S || q < 0 || q >= S {
										continue
									}
									for ch := range C {
										for o := range O {
											vv := v[((n*H+h)*W+w)*O+o]
											dx[((n*S+r)*S+q)*C+ch] += ks[((i*c.kw+j)*C+ch)*O+o] * vv
											dk[((i*c.kw+j)*C+ch)*O+o] += xs[((n*S+r)*S+q)*C+ch] * vv
										}
									}
								}
							}
						}
					}
				}
				for idx, want := range [][]float64{dx, dk, dx} {
					got := tensors.MustCopyFlatData[float64](out[idx])
					what := []string{"input gradient", "kernel gradient", "inputGradient"}[idx]
					for i := range want {
						if math.Abs(got[i]-want[i]) > 1e-9*(1+math.Abs(want[i])) {
							t.Fatalf("%s, %d -> %d channels (sliced %v): %s [%d] = %g, closed form %g", c.name, C, O, slicedToo, what, i, got[i], want[i])
						}
					}
				}
			}
		}
	}
}

// TestManySlices: a float32 kernel gradient in 70 slices, what XLA hands
// to oneDNN, equals GoMLX's unsliced one. Summed in a chain, the slices
// would give one oneDNN convolution 69 fused additions, beyond oneDNN's
// limit, and XLA aborted the process while compiling.
func TestManySlices(t *testing.T) {
	b := xlaCPU(t)
	sliced(t, 6*6*5) // One image per slice.
	grad := func() []float32 {
		e, err := NewExec(b, func(g *Graph) *Node {
			rng := RNGStateFromSeedForGraph(g, 3)
			rng, x := RandomNormal(rng, shapes.Make(dtypes.Float32, 70, 6, 6, 4))
			rng, k := RandomNormal(rng, shapes.Make(dtypes.Float32, 3, 3, 4, 5))
			y := Convolve(x, k).PadSame().Done()
			_, w := RandomNormal(rng, y.Shape())
			return Gradient(ReduceAllSum(Mul(y, w)), k)[0]
		})
		if err != nil {
			t.Fatal(err)
		}
		defer e.Finalize()
		out, err := e.Exec()
		if err != nil {
			t.Fatal(err)
		}
		return tensors.MustCopyFlatData[float32](out[0])
	}
	got := grad()
	VJPRegistration[NodeTypeConvGeneral] = Original
	want := grad()
	VJPRegistration[NodeTypeConvGeneral] = vjp
	for i := range got {
		if math.Abs(float64(got[i]-want[i])) > 1e-4*(1+math.Abs(float64(want[i]))) {
			t.Fatalf("kernel gradient [%d] = %g, GoMLX's %g", i, got[i], want[i])
		}
	}
}

// TestThinKernelGradient: with one to ThinChannels input or output
// channels, the kernel gradient is one dot of image patches, equal to
// GoMLX's own for "same" and "valid" padding, odd, even and non-square
// kernels, and thin inputs or outputs; with more channels on both sides it
// is not used. (TestGradientsClosedForm checks it with asymmetric padding,
// which GoMLX's own rule does not build.)
func TestThinKernelGradient(t *testing.T) {
	b := xlaCPU(t)
	same := func(x, k *Node) *Node { return Convolve(x, k).PadSame().Done() }
	valid := func(x, k *Node) *Node { return Convolve(x, k).NoPadding().Done() }
	for _, c := range []struct {
		name string
		conv convCase
		thin bool
	}{
		{"1 in, 3x3 same", convCase{x: []int{5, 7, 6, 1}, k: []int{3, 3, 1, 6}, conv: same}, true},
		{"1 out, 3x3 same", convCase{x: []int{5, 7, 6, 6}, k: []int{3, 3, 6, 1}, conv: same}, true},
		{"4 in, 2x3 valid", convCase{x: []int{3, 6, 7, 4}, k: []int{2, 3, 4, 9}, conv: valid}, true},
		{"2 out, 4x4 same", convCase{x: []int{3, 8, 8, 7}, k: []int{4, 4, 7, 2}, conv: same}, true},
		{"5 in 6 out", convCase{x: []int{4, 6, 6, 5}, k: []int{3, 3, 5, 6}, conv: same}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			got, convs, dots := kernelGradientOf(t, b, c.conv)
			VJPRegistration[NodeTypeConvGeneral] = Original
			want, _, _ := kernelGradientOf(t, b, c.conv)
			VJPRegistration[NodeTypeConvGeneral] = vjp
			if wantDots := map[bool]int{true: 1, false: 0}[c.thin]; dots != wantDots || (c.thin && convs != 2) {
				t.Errorf("graph has %d convolutions and %d dots, want thin = %v", convs, dots, c.thin)
			}
			sameAsGoMLX(t, got, want)
		})
	}
}

// TestWidePerSlice: wide convolutions are sliced by output positions, about
// WidePositions per slice, at least one image.
func TestWidePerSlice(t *testing.T) {
	for _, c := range []struct{ positions, want int }{
		{32 * 32, 1}, {16 * 16, 4}, {8 * 8, 16}, {4 * 4, 64}, {64 * 64, 1}, {0, 1024},
	} {
		if got := widePerSlice(c.positions); got != c.want {
			t.Errorf("widePerSlice(%d) = %d, want %d", c.positions, got, c.want)
		}
	}
}
