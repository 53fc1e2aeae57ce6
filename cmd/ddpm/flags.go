package main

import (
	"flag"
	"fmt"
	"io"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/train"
)

// modelFlags are the flags of sample and eval that choose a model and how its
// network runs.
type modelFlags struct {
	dir, ckpt *string
	raw       *bool
	precision *precision
	variance  *variance
}

func addModelFlags(fs *flag.FlagSet) *modelFlags {
	return &modelFlags{
		dir:       fs.String("dir", "", "run folder: its newest checkpoint is used (neither -dir nor -ckpt: the shipped MNIST model)"),
		ckpt:      fs.String("ckpt", "", "checkpoint file (instead of -dir)"),
		raw:       fs.Bool("raw", false, "use the raw weights instead of their EMA"),
		precision: precisionFlag(fs),
		variance:  varianceFlag(fs),
	}
}

// load reads the model the flags name and applies -precision and -variance.
func (f *modelFlags) load(stdout io.Writer) (*loaded, error) {
	l, err := load(*f.ckpt, *f.dir, !*f.raw, stdout)
	if err != nil {
		return nil, err
	}
	if err := l.SetPrecision(f.precision.name); err != nil {
		return nil, err
	}
	if f.variance.set {
		if err := l.SetVariance(f.variance.v); err != nil {
			return nil, fmt.Errorf("-variance: %w", err)
		}
	}
	return l, nil
}

// samplerFlags are the sampler's flags of sample and eval.
type samplerFlags struct {
	method  ddpm.Method
	steps   *string
	spacing ddpm.Spacing
	eta     *float64
	clip    *bool
}

func addSamplerFlags(fs *flag.FlagSet, clipHelp string) *samplerFlags {
	f := &samplerFlags{}
	fs.Var(&f.method, "method", "sampler: ddpm (ancestral, default), ddim, dpm-solver++, heun or dpm-solver++-sde")
	f.steps = fs.String("steps", "", `ddpm and ddim: respaced steps ("" all T, "50" 50 evenly spaced, "ddim50" DDIM's strided 50); dpm-solver++, heun and dpm-solver++-sde: network evaluations (default 20)`)
	fs.Var(&f.spacing, "spacing", "timesteps of the solvers: logsnr (dpm-solver++'s default), time (dpm-solver++-sde's), karras (heun's)")
	f.eta = fs.Float64("eta", 0, "DDIM's eta (0: deterministic)")
	f.clip = fs.Bool("clip", true, clipHelp)
	return f
}

// options returns the sampler options the flags set.
func (f *samplerFlags) options(seed int64) ddpm.SampleOptions {
	return ddpm.SampleOptions{Method: f.method, Eta: *f.eta, Steps: *f.steps, Spacing: f.spacing, ClipX0: *f.clip, Seed: seed}
}

// precision is the -precision flag of sample and eval.
type precision struct{ name string }

func (p *precision) String() string { return p.name }

func (p *precision) Set(name string) error {
	if _, err := train.ParsePrecision(name); err != nil {
		return err
	}
	p.name = name
	return nil
}

// precisionFlag defines -precision on fs.
func precisionFlag(fs *flag.FlagSet) *precision {
	p := &precision{name: "float32"}
	fs.Var(p, "precision", "precision of the network: float32; bfloat16 (its convolutions and matrix products, with float32 weights, normalisation and sums: mixed precision, to sample, not to measure bits/dim); or bfloat16-activations (also the products' results between layers, as PyTorch's autocast)")
	return p
}

// variance is the -variance flag of sample and eval: unset keeps the
// training's variance.
type variance struct {
	set bool
	v   ddpm.VarianceType
}

func (f *variance) String() string {
	if !f.set {
		return ""
	}
	return f.v.String()
}

func (f *variance) Set(name string) error {
	if err := f.v.Set(name); err != nil {
		return err
	}
	f.set = true
	return nil
}

// varianceFlag defines -variance on fs.
func varianceFlag(fs *flag.FlagSet) *variance {
	v := &variance{}
	fs.Var(v, "variance", "reverse variance of a model trained with a fixed one: fixed-large or fixed-small (default: the training's)")
	return v
}
