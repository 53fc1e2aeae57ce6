// Command figures regenerates the figures in figures/ from the library:
// the noise schedules, the forward noising of real MNIST digits, and from the
// shipped MNIST model (or the run folder or model file in DDPM_MODEL): 64
// samples, the coarse-to-fine strip, an interpolation, and the
// rate-distortion view of its bound.
//
//	go run ./kernel/cmd/figures [-out figures] [-seed 1]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/backend"
	"github.com/diffusion-go/ddpm/data"
	"github.com/diffusion-go/ddpm/kernel"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func main() {
	out := flag.String("out", "figures", "folder to write the PNG figures to")
	seed := flag.Int64("seed", 1, "seed of the noise in the forward-noising figure")
	flag.Parse()
	if err := run(*out, *seed); err != nil {
		fmt.Fprintln(os.Stderr, "figures:", err)
		os.Exit(1)
	}
}

func run(out string, seed int64) error {
	start := time.Now()
	b, err := backend.New()
	if err != nil {
		return err
	}
	fmt.Println("figures:", backend.Describe(b))

	// Schedules: abar_t and the signal-to-noise ratio abar_t / (1 - abar_t).
	const T = 1000
	for name, q := range map[string]kernel.ScheduleQuantity{"schedule_alphabar.png": kernel.AlphaBar, "schedule_snr.png": kernel.SNR} {
		png, err := kernel.ScheduleChart(q, T, ddpm.Linear, ddpm.Cosine)
		if err != nil {
			return err
		}
		if err := kernel.WriteFile(filepath.Join(out, name), png); err != nil {
			return err
		}
	}

	// Forward noising of real MNIST test digits at chosen timesteps.
	mnist, err := data.LoadMNIST("", data.Test)
	if err != nil {
		return err
	}
	s, err := ddpm.NewSchedule(ddpm.Linear, T)
	if err != nil {
		return err
	}
	d, err := ddpm.NewDiffusion(s, ddpm.Epsilon, ddpm.FixedLarge, ddpm.Simple)
	if err != nil {
		return err
	}
	ts := []int{0, 100, 250, 500, 750, 999}
	const digits = 8
	img, err := ddpm.ForwardNoising(b, d, mnist.Subset(digits).Float(), []int{digits, 28, 28, 1}, ts, seed)
	if err != nil {
		return err
	}
	grid, err := kernel.Grid(img, digits*len(ts), 28, 28, 1, len(ts), 2)
	if err != nil {
		return err
	}
	png, err := kernel.PNG(grid)
	if err != nil {
		return err
	}
	if err := kernel.WriteFile(filepath.Join(out, "forward_noising.png"), png); err != nil {
		return err
	}
	fmt.Printf("figures: wrote schedule_alphabar.png, schedule_snr.png, forward_noising.png to %s in %.1fs\n", out, time.Since(start).Seconds())
	return modelFigures(b, out, mnist)
}

// modelFigures writes the figures of the notebooks' model (kernel.NotebookModel).
func modelFigures(b backends.Backend, out string, test *data.Images) error {
	start := time.Now()
	tm, about, err := kernel.NotebookModel()
	if err != nil {
		return err
	}
	s := tm.Sampler(b)
	write := func(name string) func([]byte, error) error {
		return func(png []byte, err error) error {
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			return kernel.WriteFile(filepath.Join(out, name), png)
		}
	}
	// 64 samples with 20 steps of DPM-Solver++.
	res, err := s.Sample([]int{64, 28, 28, 1}, ddpm.SampleOptions{Method: ddpm.DPMSolver, Steps: "20", Seed: 1, ClipX0: true})
	if err != nil {
		return err
	}
	if err := write("mnist_samples.png")(kernel.ImagesPNG(kernel.Floats(res.Images), 64, 28, 28, 1, 8, 2)); err != nil {
		return err
	}
	// Coarse to fine: 1000 ancestral steps for 4 digits.
	res, err = s.Sample([]int{4, 28, 28, 1}, ddpm.SampleOptions{Seed: 7, Capture: []int{999, 900, 800, 700, 600, 500, 400, 300, 200, 100, 0}})
	if err != nil {
		return err
	}
	if err := write("mnist_progressive.png")(kernel.ProgressiveGrid(res.Snapshots, 4, 28, 28, 1, 2)); err != nil {
		return err
	}
	// Interpolation at t = 250 between 4 pairs of test digits.
	px := test.Subset(8).Float()
	lambdas := []float64{0, 0.125, 0.25, 0.375, 0.5, 0.625, 0.75, 0.875, 1}
	per := 4 * 28 * 28
	res, err = s.Interpolate(tensors.FromFlatDataAndDimensions(px[:per], 4, 28, 28, 1), tensors.FromFlatDataAndDimensions(px[per:], 4, 28, 28, 1),
		250, lambdas, ddpm.SampleOptions{Seed: 5, ClipX0: true})
	if err != nil {
		return err
	}
	if err := write("mnist_interpolation.png")(kernel.InterpolationGrid(px[:per], px[per:], res.Images, 4, lambdas, 28, 28, 1, 2)); err != nil {
		return err
	}
	// Where the bits go: the full chain of the bound on 16 test digits.
	x0 := tensors.FromFlatDataAndDimensions(test.Subset(16).Float(), 16, 28, 28, 1)
	bpd, err := tm.BPD(b, x0, ddpm.BPDOptions{Seed: 1, ClipX0: true})
	if err != nil {
		return err
	}
	charts, err := kernel.RateDistortionCharts(bpd, fmt.Sprintf("MNIST model, %d steps", tm.Step))
	if err != nil {
		return err
	}
	if err := write("mnist_rate_distortion.png")(charts[2], nil); err != nil {
		return err
	}
	fmt.Printf("figures: wrote mnist_samples.png, mnist_progressive.png, mnist_interpolation.png, mnist_rate_distortion.png from %s (bound %.3f bits/dim on 16 test digits) in %.0fs\n",
		about, bpd.MeanTotal(), time.Since(start).Seconds())
	return nil
}
