// Command figures regenerates the figures in figures/ from the library:
// the noise schedules and the forward noising of real MNIST digits.
//
//	go run ./kernel/cmd/figures [-out figures] [-seed 1]
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
	"github.com/diffusion-go/ddpm/kernel"
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
	return nil
}
