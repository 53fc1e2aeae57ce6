package convgrad

import (
	"fmt"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// BenchmarkKernelGradient times a 3x3 same-padded convolution's forward pass
// plus its kernel gradient, sliced and not, at the shapes of the mnist
// (batch 64) and cifar10 (batch 128) presets; the forward pass alone is
// reported for reference:
//
//	go test -run '^$' -bench KernelGradient ./ddpm/internal/convgrad/
func BenchmarkKernelGradient(b *testing.B) {
	be := xlaCPU(b)
	for _, s := range [][3]int{{64, 28, 32}, {64, 14, 64}, {64, 7, 64}, {128, 32, 128}, {128, 16, 256}, {128, 8, 256}} {
		n, size, ch := s[0], s[1], s[2]
		x := tensors.FromShape(shapes.Make(dtypes.Float32, n, size, size, ch))
		v := tensors.FromShape(shapes.Make(dtypes.Float32, n, size, size, ch))
		for _, mode := range []string{"forward", "plain", "sliced"} {
			b.Run(fmt.Sprintf("%dx%dx%dx%d/%s", n, size, size, ch, mode), func(b *testing.B) {
				Enabled = mode == "sliced"
				defer func() { Enabled = true }()
				e, err := NewExec(be, func(x, v *Node) []*Node {
					k := Zeros(x.Graph(), shapes.Make(x.DType(), 3, 3, ch, ch))
					y := Convolve(x, k).PadSame().Done()
					if mode == "forward" {
						return []*Node{ReduceAllSum(y)}
					}
					return []*Node{ReduceAllSum(y), Gradient(ReduceAllSum(Mul(y, v)), k)[0]}
				})
				if err != nil {
					b.Fatal(err)
				}
				defer e.Finalize()
				if _, err := e.Exec(x, v); err != nil { // Compiles.
					b.Fatal(err)
				}
				b.ResetTimer()
				for range b.N {
					if _, err := e.Exec(x, v); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
