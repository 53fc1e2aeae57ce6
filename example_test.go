package ddpm_test

import (
	"fmt"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/backend"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// The paper's schedule: how much of the signal is left after t+1 steps.
func ExampleNewSchedule() {
	s, err := ddpm.NewSchedule(ddpm.Linear, 1000)
	if err != nil {
		panic(err)
	}
	for _, t := range []int{0, 249, 499, 999} {
		fmt.Printf("t=%3d beta=%.5f sqrt(abar)=%.4f\n", t, s.Betas[t], s.SqrtAlphasCumprod[t])
	}
	// Output:
	// t=  0 beta=0.00010 sqrt(abar)=0.9999
	// t=249 beta=0.00506 sqrt(abar)=0.7239
	// t=499 beta=0.01004 sqrt(abar)=0.2803
	// t=999 beta=0.02000 sqrt(abar)=0.0064
}

// Sampling with a denoiser: here one that always predicts zero noise. Then
// each DDIM (eta = 0) step maps x_t to sqrt(abar_{t-1} / abar_t) x_t, so the
// chain telescopes: from x_T = 1 at the first visited step t = 900 of
// "ddim10", it ends at x_0 = 1 / sqrt(abar_900).
func ExampleSampler() {
	s, _ := ddpm.NewSchedule(ddpm.Linear, 1000)
	d, _ := ddpm.NewDiffusion(s, ddpm.Epsilon, ddpm.FixedLarge, ddpm.Simple)
	zeroNoise := func(ctx *context.Context, xt, t *Node) *Node { return ZerosLike(xt) }
	sampler := ddpm.NewSampler(backend.MustNew(), nil, d, zeroNoise)
	xT := tensors.FromValue([][]float32{{1}})
	res, err := sampler.Sample(nil, ddpm.SampleOptions{Method: ddpm.DDIM, Steps: "ddim10", Noise: xT})
	if err != nil {
		panic(err)
	}
	fmt.Printf("x_0 = %.3f, 1/sqrt(abar_900) = %.3f\n", res.Images.Value().([][]float32)[0][0], 1/s.SqrtAlphasCumprod[900])
	// Output:
	// x_0 = 60.831, 1/sqrt(abar_900) = 60.831
}
