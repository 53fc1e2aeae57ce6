package train

import (
	"math/rand/v2"

	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// batch returns the images, timesteps and weights of the given step: data
// order, timesteps and flips are functions of (seed, step) only.
func (tr *Trainer) batch(step int64) (*tensors.Tensor, []int32, []float32) {
	cfg, ds := tr.Config, tr.data
	rng := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(step)|1<<62))
	size := ds.H * ds.W * ds.C
	x := make([]float32, cfg.BatchSize*size)
	for j := range cfg.BatchSize {
		i := step*int64(cfg.BatchSize) + int64(j)
		epoch, pos := i/int64(ds.N), int(i%int64(ds.N))
		if epoch != tr.permEpoch {
			tr.perm = rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(epoch))).Perm(ds.N)
			tr.permEpoch = epoch
		}
		img := ds.Image(tr.perm[pos])
		flip := cfg.HFlip && rng.IntN(2) == 1
		dst := x[j*size : (j+1)*size]
		for yy := range ds.H {
			for xx := range ds.W {
				sx := xx
				if flip {
					sx = ds.W - 1 - xx
				}
				for c := range ds.C {
					dst[(yy*ds.W+xx)*ds.C+c] = float32(img[(yy*ds.W+sx)*ds.C+c])/127.5 - 1
				}
			}
		}
	}
	t, w := tr.sampler.Sample(rng, cfg.BatchSize)
	return tensors.FromFlatDataAndDimensions(x, cfg.BatchSize, ds.H, ds.W, ds.C), t, w
}
