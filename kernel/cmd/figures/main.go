// Command figures regenerates the figures in figures/ from the library:
// the noise schedules, the forward noising of real MNIST digits, and, when
// runs/mnist holds a checkpoint, the rate-distortion view of its bound.
//
//	go run ./kernel/cmd/figures [-out figures] [-seed 1] [-run runs/mnist]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/diffusion-go/ddpm/ddpm"
	"github.com/diffusion-go/ddpm/ddpm/backend"
	"github.com/diffusion-go/ddpm/ddpm/data"
	"github.com/diffusion-go/ddpm/ddpm/train"
	"github.com/diffusion-go/ddpm/kernel"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func main() {
	out := flag.String("out", "figures", "folder to write the PNG figures to")
	seed := flag.Int64("seed", 1, "seed of the noise in the forward-noising figure")
	runDir := flag.String("run", "runs/mnist", "run folder of ddpm train -preset mnist: its newest checkpoint gives the rate-distortion figure (skipped when absent)")
	flag.Parse()
	if err := run(*out, *seed, *runDir); err != nil {
		fmt.Fprintln(os.Stderr, "figures:", err)
		os.Exit(1)
	}
}

func run(out string, seed int64, runDir string) error {
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
	return rateDistortion(b, out, runDir, mnist)
}

// rateDistortion writes the paper's Figure 5 for the newest checkpoint of
// runDir: the full chain of the bound on 16 test digits.
func rateDistortion(b backends.Backend, out, runDir string, test *data.Images) error {
	ckpt := kernel.FindCheckpoint(runDir)
	if ckpt == "" {
		fmt.Printf("figures: no checkpoint in %s; skipping mnist_rate_distortion.png (train with ddpm train -preset mnist -dir %s)\n", runDir, runDir)
		return nil
	}
	start := time.Now()
	tm, err := train.LoadTrained(ckpt, true)
	if err != nil {
		return err
	}
	x0 := tensors.FromFlatDataAndDimensions(test.Subset(16).Float(), 16, 28, 28, 1)
	bpd, err := tm.BPD(b, x0, ddpm.BPDOptions{Seed: 1, ClipX0: true})
	if err != nil {
		return err
	}
	charts, err := kernel.RateDistortionCharts(bpd, filepath.Base(ckpt))
	if err != nil {
		return err
	}
	if err := kernel.WriteFile(filepath.Join(out, "mnist_rate_distortion.png"), charts[2]); err != nil {
		return err
	}
	fmt.Printf("figures: wrote mnist_rate_distortion.png from %s (bound %.3f bits/dim on 16 test digits) in %.0fs\n",
		ckpt, bpd.MeanTotal(), time.Since(start).Seconds())
	return nil
}
