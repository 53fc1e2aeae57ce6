package unet

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// BenchmarkGroupNorm times GroupNorm followed by SiLU, as in every ResNet
// block, at the mnist preset's shapes and groups and batch 64: the forward pass alone,
// and the forward pass with the gradients of a weighted sum of the output
// with respect to the input, the scale and the offset:
//
//	go test -run '^$' -bench GroupNorm -benchtime 20x ./unet/
func BenchmarkGroupNorm(b *testing.B) {
	for _, mode := range []string{"forward", "gradient"} {
		for _, s := range [][4]int{{64, 28, 28, 32}, {64, 28, 28, 96}, {64, 14, 14, 64}, {64, 7, 7, 128}} {
			b.Run(fmt.Sprintf("%s/%dx%dx%d", mode, s[1], s[2], s[3]), func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				random := func() *tensors.Tensor {
					v := make([]float32, s[0]*s[1]*s[2]*s[3])
					for i := range v {
						v[i] = float32(rng.NormFloat64())
					}
					return tensors.FromFlatDataAndDimensions(v, s[0], s[1], s[2], s[3])
				}
				x, w := random(), random()
				c, err := Preset("mnist")
				if err != nil {
					b.Fatal(err)
				}
				m := &Model{Config: c}
				e, err := context.NewExec(backend.MustNew(), context.New(), func(ctx *context.Context, x, w *Node) *Node {
					y := silu(m.groupNorm(ctx, x))
					if mode == "forward" {
						return ReduceAllSum(y)
					}
					loss := ReduceAllSum(Mul(y, w))
					sum := loss
					for _, g := range Gradient(loss, x, ctx.GetVariable("gamma").ValueGraph(x.Graph()), ctx.GetVariable("beta").ValueGraph(x.Graph())) {
						sum = Add(sum, ReduceAllSum(g))
					}
					return sum
				})
				if err != nil {
					b.Fatal(err)
				}
				for i := -1; i < b.N; i++ {
					if i == 0 {
						b.ResetTimer()
					}
					if _, err := e.Exec(x, w); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}
