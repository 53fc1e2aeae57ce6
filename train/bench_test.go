package train

import (
	"testing"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/diffusion-go/ddpm/data"
)

// BenchmarkTrainStep measures one training step (forward, loss, backward,
// Adam, EMA) of a preset at its batch size, after compilation:
//
//	go test -run '^$' -bench TrainStep -benchtime 10x ./train/
//	GOMLX_BACKEND=go go test -run '^$' -bench TrainStep/tiny -benchtime 3x ./train/
func BenchmarkTrainStep(b *testing.B) {
	for _, preset := range []string{"tiny", "mnist", "cifar10"} {
		b.Run(preset, func(b *testing.B) {
			cfg, err := DefaultConfig(preset)
			if err != nil {
				b.Fatal(err)
			}
			s, c := cfg.Model.ImageSize, cfg.Model.InChannels
			ds := &data.Images{N: 2 * cfg.BatchSize, H: s, W: s, C: c, Pixels: make([]uint8, 2*cfg.BatchSize*s*s*c)}
			tr, err := New(backend.MustNew(), cfg, b.TempDir(), ds)
			if err != nil {
				b.Fatal(err)
			}
			defer tr.Close()
			if _, err := tr.TrainStep(); err != nil { // Compiles.
				b.Fatal(err)
			}
			b.ResetTimer()
			for range b.N {
				if _, err := tr.TrainStep(); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(cfg.BatchSize*b.N)/b.Elapsed().Seconds(), "images/s")
		})
	}
}
