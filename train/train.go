// Package train trains a U-Net denoiser as in Ho et al. (2020): Adam with
// learning-rate warmup, gradient clipping by global norm, an exponential
// moving average (EMA) of the weights, atomic checkpoints that resume
// exactly, and a metrics log.
package train

import (
	gocontext "context"
	"errors"
	"fmt"
	"os"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/data"
	"github.com/diffusion-go/ddpm/unet"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/distributed"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
)

// Scopes of the variables.
const (
	modelScope = "model" // The network's weights: ctx.In(modelScope) is given to the denoiser.
	emaScope   = "ema"   // EMA copies, at /ema/<scope of the weight>.
)

// Trainer runs and checkpoints one training run in a folder.
type Trainer struct {
	Config Config
	Dir    string

	backend   backends.Backend
	ctx       *context.Context
	model     *unet.Model
	diffusion *ddpm.Diffusion
	data      *data.Images
	sampler   ddpm.TimestepSampler
	exec      *context.Exec
	devices   int                       // Devices the step runs on (SetDevices); 0 or 1: one.
	shard     *distributed.ShardingSpec // The batch axis split over the devices (devices > 1).
	replicate *distributed.ShardingSpec // One copy on every device (devices > 1).
	step      int64                     // Steps done.
	perm      []int                     // Data order of the current epoch.
	permEpoch int64
	metrics   *os.File
	lock      *runLock // Held from New to Close: one trainer per run folder.
}

// StepStats reports one training step.
type StepStats struct {
	Step         int64   `json:"step"` // Steps done after this one.
	Loss         float64 `json:"loss"`
	GradNorm     float64 `json:"grad_norm"`
	LearningRate float64 `json:"lr"`
	Seconds      float64 `json:"seconds"` // Wall time of the step.
}

// New starts a run in dir, or resumes it from the newest checkpoint there.
// Resuming checks that the checkpoint's configuration equals cfg (Steps
// aside) and restores weights, optimizer state, EMA, step, RNG state and
// the timestep sampler's history; data order is a function of seed and step.
// The model's output channels are derived from the variance type (twice the
// image channels for a learned variance).
func New(backend backends.Backend, cfg Config, dir string, ds *data.Images) (*Trainer, error) {
	// The network's output channels follow from the variance type.
	cfg.Model.OutChannels = cfg.Variance.OutputChannels(cfg.Model.InChannels)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if ds == nil || ds.N == 0 {
		return nil, errors.New("training needs a non-empty dataset")
	}
	if ds.H != cfg.Model.ImageSize || ds.W != cfg.Model.ImageSize || ds.C != cfg.Model.InChannels {
		return nil, fmt.Errorf("dataset images are %dx%dx%d but the %s model takes %dx%dx%d",
			ds.H, ds.W, ds.C, cfg.Preset, cfg.Model.ImageSize, cfg.Model.ImageSize, cfg.Model.InChannels)
	}
	d, _ := cfg.Diffusion()
	m, _ := unet.New(cfg.Model)
	ts, err := ddpm.NewTimestepSampler(cfg.Timesteps, cfg.T)
	if err != nil {
		return nil, err
	}
	tr := &Trainer{Config: cfg, Dir: dir, backend: backend, ctx: context.New(), model: m, diffusion: d, data: ds,
		sampler: ts, permEpoch: -1}
	tr.ctx.SetParam(initializers.ParamInitialSeed, cfg.Seed)
	if cfg.Precision != "" {
		p, err := ParsePrecision(cfg.Precision)
		if err != nil {
			return nil, err
		}
		p.Apply(tr.ctx)
	}
	if err := tr.ctx.SetRNGStateFromSeed(cfg.Seed); err != nil {
		return nil, err
	}
	if tr.lock, err = lockRun(dir); err != nil {
		return nil, err
	}
	if err := tr.resume(); err != nil {
		tr.lock.release()
		return nil, err
	}
	return tr, nil
}

// Step returns the number of steps done.
func (tr *Trainer) Step() int64 { return tr.step }

// Diffusion returns the diffusion process being trained.
func (tr *Trainer) Diffusion() *ddpm.Diffusion { return tr.diffusion }

// Model returns the network.
func (tr *Trainer) Model() *unet.Model { return tr.model }

// Run trains until Config.Steps, writing a checkpoint every CheckpointEvery
// steps and at the end, and a metrics line every logEvery steps. It stops
// early, after writing a checkpoint, when ctx is cancelled.
func (tr *Trainer) Run(ctx gocontext.Context, logEvery int, onStep func(StepStats)) error {
	return tr.RunUntil(ctx, int64(tr.Config.Steps), logEvery, onStep)
}

// RunUntil is Run that stops at the given step (at most Config.Steps), for
// callers that look at the model along the way. A checkpoint is written
// whenever it stops at the given step.
func (tr *Trainer) RunUntil(ctx gocontext.Context, until int64, logEvery int, onStep func(StepStats)) error {
	if logEvery < 1 {
		logEvery = 1
	}
	until = min(until, int64(tr.Config.Steps))
	if tr.step >= until {
		return nil
	}
	for tr.step < until {
		if ctx.Err() != nil {
			if _, err := tr.Save(); err != nil {
				return err
			}
			return ctx.Err()
		}
		st, err := tr.TrainStep()
		if err != nil {
			return err
		}
		if onStep != nil {
			onStep(st)
		}
		if st.Step%int64(logEvery) == 0 || st.Step == until {
			if err := tr.logMetrics(st); err != nil {
				return err
			}
		}
		if st.Step%int64(tr.Config.CheckpointEvery) == 0 || st.Step == until {
			if _, err := tr.Save(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close releases the metrics log and the run folder's lock.
func (tr *Trainer) Close() error {
	defer tr.lock.release()
	if tr.metrics != nil {
		return tr.metrics.Close()
	}
	return nil
}

// EMAContext returns a new context holding the EMA weights under the model
// scope, ready to be passed (with .In("model"), see ModelContext) to a sampler.
func (tr *Trainer) EMAContext() (*context.Context, error) {
	return modelContext(tr.ctx, true)
}
