package main

import (
	"fmt"
	"io"
	"path/filepath"
	"time"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/backend"
	"github.com/diffusion-go/ddpm/data"
	"github.com/diffusion-go/ddpm/imagefile"
	"github.com/diffusion-go/ddpm/pretrained"
	"github.com/diffusion-go/ddpm/train"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// loaded is a checkpoint ready to sample from, with the backend.
type loaded struct {
	*train.Trained
	backend backends.Backend
}

// load reads -ckpt, or the newest checkpoint of -dir, or with neither the
// shipped MNIST model.
func load(ckpt, dir string, ema bool, stdout io.Writer) (*loaded, error) {
	var tm *train.Trained
	var err error
	if ckpt == "" && dir == "" {
		if !ema {
			return nil, fmt.Errorf("-raw needs a training checkpoint (-dir or -ckpt): the shipped model has only its EMA weights")
		}
		if tm, err = pretrained.MNIST(); err != nil {
			return nil, err
		}
		fmt.Fprintf(stdout, "using the shipped MNIST model (%s, %d training steps); -dir or -ckpt picks another\n", pretrained.MNISTName, tm.Step)
	} else {
		path, err := checkpointPath(ckpt, dir)
		if err != nil {
			return nil, err
		}
		if tm, err = train.LoadTrained(path, ema); err != nil {
			return nil, err
		}
	}
	b, err := backend.New()
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(stdout, "ddpm:", backend.Describe(b))
	return &loaded{Trained: tm, backend: b}, nil
}

// maxGridPixels bounds the PNG grid of ddpm sample (256 MiB as RGBA).
const maxGridPixels = 1 << 26

func runSample(args []string, stdout io.Writer) error {
	fs := newFlagSet("sample", `Draws images from a checkpoint (EMA weights unless -raw) and writes a PNG grid.

Examples:
  ddpm sample -dir runs/mnist -n 64 -out samples.png
  ddpm sample -dir runs/mnist -method ddim -steps ddim50 -out ddim50.png
  ddpm sample -dir runs/mnist -progressive strip.png -n 4
  ddpm sample -dir runs/mnist -interpolate interp.png`)
	mf := addModelFlags(fs)
	out := fs.String("out", "samples.png", "PNG grid of the samples")
	n := fs.Int("n", 64, "number of images")
	cols := fs.Int("cols", 8, "grid columns")
	zoom := fs.Int("zoom", 2, "pixel zoom of the PNG")
	batch := fs.Int("batch", 256, "images sampled at once (bounds the memory; batch k uses seed + k)")
	sf := addSamplerFlags(fs, "clip the predicted x_0 to [-1, 1] at every step")
	seed := fs.Int64("seed", 1, "seed: the same seed gives the same images on the same backend")
	progressive := fs.String("progressive", "", "also write a PNG of x_t and the predicted x_0 at 10 timesteps (first 4 images)")
	interp := fs.String("interpolate", "", "instead of sampling, write a PNG interpolating pairs of MNIST test digits")
	interpT := fs.Int("interpolate-t", 500, "timestep at which interpolation mixes the two latents")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *n < 1 || *cols < 1 || *zoom < 1 || *batch < 1 {
		return fmt.Errorf("-n, -cols, -zoom and -batch must be positive")
	}
	l, err := mf.load(stdout)
	if err != nil {
		return err
	}
	s := l.Sampler(l.backend)
	opts := sf.options(*seed)
	if err := opts.Validate(l.Config.T); err != nil {
		return err
	}
	size, ch := l.Config.Model.ImageSize, l.Config.Model.InChannels
	if px := int64(*n) * int64(size**zoom+2) * int64(size**zoom+2); px > maxGridPixels {
		return fmt.Errorf("-n %d images of %dx%d at zoom %d make a grid of %d pixels, more than the %d allowed: ask for fewer images or a smaller -zoom (ddpm eval -samples measures many samples without a grid)",
			*n, size, size, *zoom, px, maxGridPixels)
	}
	start := time.Now()

	if *interp != "" {
		if size != 28 || ch != 1 {
			return fmt.Errorf("-interpolate mixes MNIST test digits (28x28x1); this model takes %dx%dx%d images", size, size, ch)
		}
		test, err := data.LoadMNIST("", data.Test)
		if err != nil {
			return err
		}
		const pairs, mixes = 4, 9
		a := tensors.FromFlatDataAndDimensions(test.Subset(2 * pairs).Float()[:pairs*size*size], pairs, size, size, ch)
		bb := tensors.FromFlatDataAndDimensions(test.Subset(2 * pairs).Float()[pairs*size*size:], pairs, size, size, ch)
		lambdas := make([]float64, mixes)
		for i := range lambdas {
			lambdas[i] = float64(i) / (mixes - 1)
		}
		res, err := s.Interpolate(a, bb, *interpT, lambdas, opts)
		if err != nil {
			return err
		}
		// Rows: pairs; columns: lambda. The result is lambda-major: reorder.
		flat := floats(res.Images)
		per := size * size * ch
		grid := make([]float32, 0, len(flat))
		for p := range pairs {
			for k := range mixes {
				grid = append(grid, flat[(k*pairs+p)*per:(k*pairs+p+1)*per]...)
			}
		}
		if err := writeGrid(*interp, grid, pairs*mixes, size, ch, mixes, *zoom); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: %d pairs of test digits mixed at t=%d, lambda 0..1, in %.1fs\n", *interp, pairs, *interpT, time.Since(start).Seconds())
		return nil
	}

	if *progressive != "" {
		opts.Capture = captureSteps(l.Config.T)
	}
	// Batches of at most -batch images bound the memory; batch k draws its
	// noise from seed + k, so up to -batch images are those of one call.
	var images []float32
	var res *ddpm.Result
	for k := 0; k*(*batch) < *n; k++ {
		o := opts
		o.Seed += int64(k)
		if k > 0 {
			o.Capture = nil
		}
		r, err := s.Sample([]int{min(*batch, *n-k*(*batch)), size, size, ch}, o)
		if err != nil {
			return err
		}
		if k == 0 {
			res = r
		}
		images = append(images, floats(r.Images)...)
	}
	if err := writeGrid(*out, images, *n, size, ch, *cols, *zoom); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "wrote %s: %d samples (%v, steps %q, seed %d) from %s in %.1fs\n",
		*out, *n, sf.method, *sf.steps, *seed, filepath.Base(l.Path), time.Since(start).Seconds())
	if *progressive != "" {
		show := min(*n, 4)
		per := size * size * ch
		var grid []float32
		for i := range show { // Row pairs: x_t on top, predicted x_0 below, for each image.
			for _, snap := range res.Snapshots {
				grid = append(grid, floats(snap.XT)[i*per:(i+1)*per]...)
			}
			for _, snap := range res.Snapshots {
				grid = append(grid, floats(snap.PredX0)[i*per:(i+1)*per]...)
			}
		}
		k := len(res.Snapshots)
		if err := writeGrid(*progressive, grid, 2*show*k, size, ch, k, *zoom); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "wrote %s: x_t (odd rows) and predicted x_0 (even rows) at t = %v\n", *progressive, snapshotTs(res.Snapshots))
	}
	return nil
}

// captureSteps returns 10 timesteps from T-1 down to 0.
func captureSteps(T int) []int {
	out := make([]int, 10)
	for i := range out {
		out[i] = (T - 1) - i*(T-1)/9
	}
	return out
}

func snapshotTs(s []ddpm.Snapshot) []int {
	out := make([]int, len(s))
	for i, x := range s {
		out[i] = x.T
	}
	return out
}

func floats(t *tensors.Tensor) []float32 {
	var out []float32
	_ = t.ConstFlatData(func(f any) { out = append(out, f.([]float32)...) })
	return out
}

func writeGrid(path string, pixels []float32, n, size, ch, cols, zoom int) error {
	img, err := imagefile.Grid(pixels, n, size, size, ch, cols, zoom)
	if err != nil {
		return err
	}
	png, err := imagefile.PNG(img)
	if err != nil {
		return err
	}
	return imagefile.WriteFile(path, png)
}
