package main

import (
	"fmt"
	"time"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// peakSize is the side of the square matrices whose product measures the
// machine's attainable throughput: 2 * 2048^3 = 17.2 GFLOP per product,
// large enough for the matrix-multiply kernels to reach their speed.
const peakSize = 2048

// benchPeak is the attainable dense throughput of the backend: the GFLOP/s
// of one large matrix product in float32 and in bfloat16 (inputs converted
// in the graph, products accumulated as the backend does), median of 5
// after a compiling run. It is the ceiling the bench's rows are read
// against: a U-Net step is convolutions and matrix products of smaller,
// less regular shapes.
type benchPeak struct {
	Size           int     `json:"size"`
	Float32GFLOPS  float64 `json:"float32_gflops"`
	BFloat16GFLOPS float64 `json:"bfloat16_gflops,omitempty"`
	BFloat16Error  string  `json:"bfloat16_error,omitempty"`
}

func measurePeak() (*benchPeak, error) {
	b, err := backend.New()
	if err != nil {
		return nil, err
	}
	n := peakSize
	ones := make([]float32, n*n)
	for i := range ones {
		ones[i] = float32(i%7) / 7
	}
	x := tensors.FromFlatDataAndDimensions(ones, n, n)
	p := &benchPeak{Size: n}
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.BFloat16} {
		e, err := graph.NewExec(b, func(a, c *graph.Node) *graph.Node {
			a, c = graph.ConvertDType(a, dt), graph.ConvertDType(c, dt)
			return graph.ReduceAllSum(graph.ConvertDType(graph.Dot(a, c), dtypes.Float32))
		})
		if err == nil {
			var times []float64
			for i := range 6 {
				start := time.Now()
				if _, err = e.Exec(x, x); err != nil {
					break
				}
				if i > 0 {
					times = append(times, time.Since(start).Seconds())
				}
			}
			if err == nil {
				gflops := 2 * float64(n) * float64(n) * float64(n) / median(times) / 1e9
				if dt == dtypes.Float32 {
					p.Float32GFLOPS = gflops
				} else {
					p.BFloat16GFLOPS = gflops
				}
				continue
			}
		}
		if dt == dtypes.Float32 {
			return nil, fmt.Errorf("measuring the float32 peak: %w", err)
		}
		p.BFloat16Error = err.Error()
	}
	return p, nil
}
