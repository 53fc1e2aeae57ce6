package convgrad

import (
	"fmt"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// BenchmarkKernelGradient times the kernel gradient alone of a same-padded
// convolution at shapes of the mnist (batch 64) and cifar10 (batch 128)
// presets: with the whole batch at once ("plain", GoMLX's rule), as
// training computes it ("sliced": in slices of ImagesPerSlice, or a dot for
// 1x1 kernels, or thinKernelGradient for thin convolutions), and in slices
// of a given number of images ("per=N", never thin); the forward
// convolution is given for reference.
//
//	go test -run '^$' -bench 'KernelGradient/b64' ./internal/convgrad/
//	go test -run '^$' -bench 'KernelGradient/b64-28x28-96-32-k3' ./internal/convgrad/
func BenchmarkKernelGradient(b *testing.B) {
	be := xlaCPU(b)
	type conv struct{ n, size, in, out, k int }
	for _, c := range []conv{
		{64, 28, 1, 32, 3}, {64, 28, 32, 1, 3}, {64, 28, 32, 32, 3}, {64, 28, 64, 32, 3}, {64, 28, 96, 32, 3}, {64, 14, 64, 64, 3}, {64, 14, 128, 64, 3},
		{64, 7, 64, 64, 3}, {64, 28, 96, 32, 1},
		{128, 32, 3, 128, 3}, {128, 32, 128, 3, 3}, {128, 32, 128, 128, 3}, {128, 32, 256, 128, 3}, {128, 16, 256, 256, 3}, {128, 16, 512, 256, 3},
		{128, 8, 512, 256, 3}, {128, 32, 256, 128, 1},
	} {
		x := tensors.FromShape(shapes.Make(dtypes.Float32, c.n, c.size, c.size, c.in))
		v := tensors.FromShape(shapes.Make(dtypes.Float32, c.n, c.size, c.size, c.out))
		image := c.size * c.size * max(c.in, c.out)
		modes := []string{"forward", "plain", "sliced"}
		if c.k > 1 {
			modes = append(modes, "per=1", "per=2", "per=3", "per=4", "per=8", "per=16")
		}
		for _, mode := range modes {
			b.Run(fmt.Sprintf("b%d-%dx%d-%d-%d-k%d/%s", c.n, c.size, c.size, c.in, c.out, c.k, mode), func(b *testing.B) {
				oldFloats, oldPowers := sliceFloats, powersOfTwo
				defer func() { Enabled, sliceFloats, powersOfTwo, thinChannels = true, oldFloats, oldPowers, ThinChannels }()
				Enabled = mode != "plain"
				var per int
				if _, err := fmt.Sscanf(mode, "per=%d", &per); err == nil {
					sliceFloats, powersOfTwo, thinChannels = per*image, false, 0
				}
				e, err := NewExec(be, func(x, v *Node) []*Node {
					k := Zeros(x.Graph(), shapes.Make(x.DType(), c.k, c.k, c.in, c.out))
					y := Convolve(x, k).PadSame().Done()
					if mode == "forward" {
						return []*Node{ReduceAllSum(y)}
					}
					if mode == "plain" && c.k == 1 { // GoMLX's rule: a convolution.
						VJPRegistration[NodeTypeConvGeneral] = Original
						defer func() { VJPRegistration[NodeTypeConvGeneral] = vjp }()
					}
					return []*Node{Gradient(ReduceAllSum(Mul(y, v)), k)[0]}
				})
				if err != nil {
					b.Fatal(err)
				}
				timeRuns(b, e, x, v)
			})
		}
	}
}

// BenchmarkStrided times the input gradient and the kernel gradient alone
// of the U-Net's strided (downsampling) convolutions at mnist's and
// cifar10's shapes, as training computes them (the input gradient in
// "phases", see phaseInputGradient; the kernel gradient "sliced") and as
// one convolution each ("plain": of the dilated output gradient for the
// input, GoMLX's rule for the kernel).
//
//	go test -run '^$' -bench Strided ./internal/convgrad/
func BenchmarkStrided(b *testing.B) {
	be := xlaCPU(b)
	type conv struct{ n, size, ch int }
	for _, c := range []conv{{64, 28, 32}, {64, 14, 64}, {128, 32, 128}, {128, 16, 256}, {128, 8, 256}} {
		x := tensors.FromShape(shapes.Make(dtypes.Float32, c.n, c.size, c.size, c.ch))
		k := tensors.FromShape(shapes.Make(dtypes.Float32, 3, 3, c.ch, c.ch))
		v := tensors.FromShape(shapes.Make(dtypes.Float32, c.n, c.size/2, c.size/2, c.ch))
		for _, mode := range []string{"dx/phases", "dx/plain", "dk/sliced", "dk/plain"} {
			b.Run(fmt.Sprintf("b%d-%dx%d-%d-s2/%s", c.n, c.size, c.size, c.ch, mode), func(b *testing.B) {
				defer func() { Enabled = true }()
				Enabled = !strings.HasSuffix(mode, "plain")
				wrt := 0 // x
				if strings.HasPrefix(mode, "dk") {
					wrt = 1
				}
				e, err := NewExec(be, func(x, k, v *Node) *Node {
					y := Convolve(x, k).StridePerAxis(2, 2).PadSame().Done()
					return Gradient(ReduceAllSum(Mul(y, v)), x, k)[wrt]
				})
				if err != nil {
					b.Fatal(err)
				}
				timeRuns(b, e, x, k, v)
			})
		}
	}
}

// BenchmarkConvolutions times every convolution shape of the mnist preset's
// U-Net at batch 64 (size-in-out-stride-kernel), forward, input gradient
// and kernel gradient each alone, with this package's rules; the README
// sums them, weighted by how often each occurs in the network, against
// PyTorch's (scripts/bench/torch_convs.py, the same shapes).
//
//	go test -run '^$' -bench Convolutions -benchtime 10x ./internal/convgrad/
func BenchmarkConvolutions(b *testing.B) {
	be := xlaCPU(b)
	for _, s := range [][5]int{{7, 64, 64, 1, 3}, {7, 128, 64, 1, 1}, {7, 128, 64, 1, 3}, {14, 32, 64, 1, 3}, {14, 64, 64, 1, 3},
		{14, 64, 64, 2, 3}, {14, 96, 64, 1, 3}, {14, 128, 64, 1, 3}, {28, 1, 32, 1, 3}, {28, 32, 1, 1, 3}, {28, 32, 32, 1, 3},
		{28, 32, 32, 2, 3}, {28, 64, 32, 1, 3}, {28, 96, 32, 1, 3}, {28, 96, 32, 1, 1}, {14, 32, 64, 1, 1}, {14, 96, 64, 1, 1},
		{14, 128, 64, 1, 1}, {28, 64, 32, 1, 1}} {
		size, cin, cout, st, ks := s[0], s[1], s[2], s[3], s[4]
		x := tensors.FromShape(shapes.Make(dtypes.Float32, 64, size, size, cin))
		k := tensors.FromShape(shapes.Make(dtypes.Float32, ks, ks, cin, cout))
		v := tensors.FromShape(shapes.Make(dtypes.Float32, 64, size/st, size/st, cout))
		for _, mode := range []string{"fwd", "dx", "dk"} {
			b.Run(fmt.Sprintf("%d-%d-%d-s%d-k%d/%s", size, cin, cout, st, ks, mode), func(b *testing.B) {
				e, err := NewExec(be, func(x, k, v *Node) *Node {
					y := Convolve(x, k).PadSame().StridePerAxis(st, st).Done()
					switch mode {
					case "fwd":
						return y
					case "dx":
						return Gradient(ReduceAllSum(Mul(y, v)), x)[0]
					}
					return Gradient(ReduceAllSum(Mul(y, v)), k)[0]
				})
				if err != nil {
					b.Fatal(err)
				}
				timeRuns(b, e, x, k, v)
			})
		}
	}
}

// timeRuns runs e once (compiling it), then times b.N runs, and finalizes
// it.
func timeRuns(b *testing.B, e *Exec, args ...any) {
	b.Helper()
	defer e.Finalize()
	if _, err := e.Exec(args...); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		if _, err := e.Exec(args...); err != nil {
			b.Fatal(err)
		}
	}
}
