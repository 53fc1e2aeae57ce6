package unet

import (
	"testing"

	"github.com/diffusion-go/ddpm/backend"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// BenchmarkDenoise measures one forward pass of a preset's U-Net at batch 64
// (one sampling step), after compilation:
//
//	go test -run '^$' -bench Denoise/mnist -benchtime 10x ./unet/
//	GOMLX_BACKEND=go:ops_sequential go test -run '^$' -bench Denoise/mnist -benchtime 2x ./unet/
func BenchmarkDenoise(b *testing.B) {
	benchPresets(b, func(ctx *context.Context, m *Model, x, t *Node) *Node {
		return m.Denoise(ctx, x, t)
	})
}

// BenchmarkGradient measures the forward pass and the gradient of a mean
// squared error with respect to every parameter (a training step without
// the optimizer) at batch 64, after compilation:
//
//	go test -run '^$' -bench Gradient/mnist -benchtime 5x ./unet/
func BenchmarkGradient(b *testing.B) {
	benchPresets(b, func(ctx *context.Context, m *Model, x, t *Node) *Node {
		loss := ReduceAllMean(Square(Sub(m.Denoise(ctx, x, t), x)))
		sum := loss
		for _, g := range ctx.BuildTrainableVariablesGradientsGraph(loss) {
			sum = Add(sum, ReduceAllSum(g)) // Scalars only: no gradient is copied out.
		}
		return sum
	})
}

// benchPresets times the graph built by fn for the tiny and mnist presets at
// batch 64, after a first run that compiles and initialises it, and reports
// images/s.
func benchPresets(b *testing.B, fn func(ctx *context.Context, m *Model, x, t *Node) *Node) {
	for _, preset := range []string{"tiny", "mnist"} {
		b.Run(preset, func(b *testing.B) {
			c, err := Preset(preset)
			if err != nil {
				b.Fatal(err)
			}
			m, err := New(c)
			if err != nil {
				b.Fatal(err)
			}
			const batch = 64
			x := tensors.FromFlatDataAndDimensions(make([]float32, batch*c.ImageSize*c.ImageSize*c.InChannels), batch, c.ImageSize, c.ImageSize, c.InChannels)
			t := tensors.FromFlatDataAndDimensions(make([]int32, batch), batch)
			e, err := context.NewExec(backend.MustNew(), context.New(), func(ctx *context.Context, x, t *Node) *Node {
				return fn(ctx, m, x, t)
			})
			if err != nil {
				b.Fatal(err)
			}
			if _, err := e.Exec(x, t); err != nil {
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := e.Exec(x, t); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(batch*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
