package unet

import (
	"fmt"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// BenchmarkUpsampleConv: nearest upsampling and a 3x3 convolution, as the
// convolution of the upsampled image ("plain") and as upsampleConv's four
// phase convolutions, forward and forward + gradients (input and kernel), at
// the presets' shapes: [batch, H, W, channels] of the low-resolution input.
func BenchmarkUpsampleConv(b *testing.B) {
	be := backend.MustNew()
	for _, sh := range [][4]int{{64, 7, 7, 64}, {64, 14, 14, 64}, {128, 8, 8, 256}, {128, 16, 16, 256}} {
		for _, phases := range []bool{false, true} {
			for _, grad := range []bool{false, true} {
				name := fmt.Sprintf("%dx%dx%dx%d/plain", sh[0], sh[1], sh[2], sh[3])
				if phases {
					name = name[:len(name)-len("plain")] + "phases"
				}
				if grad {
					name += "/gradient"
				}
				b.Run(name, func(b *testing.B) {
					e, err := context.NewExec(be, context.New(), func(ctx *context.Context, x *graph.Node) []*graph.Node {
						ctx = ctx.In("up")
						var y *graph.Node
						if phases {
							y = upsampleConv(ctx, x, sh[3])
						} else {
							y = conv(ctx, upsampleNearest(x), sh[3], 3, 1, false)
						}
						if !grad {
							return []*graph.Node{y}
						}
						k := ctx.GetVariable("weights").ValueGraph(x.Graph())
						return graph.Gradient(graph.ReduceAllSum(graph.Square(y)), x, k)
					})
					if err != nil {
						b.Fatal(err)
					}
					defer e.Finalize()
					x := tensors.FromShape(shapes.Make(dtypes.Float32, sh[:]...))
					run := func() {
						out, err := e.Exec(x)
						if err != nil {
							b.Fatal(err)
						}
						for _, o := range out {
							o.FinalizeAll()
						}
					}
					run() // Compiles.
					b.ResetTimer()
					for range b.N {
						run()
					}
				})
			}
		}
	}
}
