package train

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strings"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/unet"
)

// Config is everything that defines a training run. It is stored in every
// checkpoint; resuming requires the same Config (except Steps, which may grow).
type Config struct {
	Preset string      `json:"preset"`
	Model  unet.Config `json:"model"`

	Schedule   ddpm.BetaSchedule        `json:"schedule"`
	T          int                      `json:"T"`
	Prediction ddpm.Prediction          `json:"prediction"`
	Variance   ddpm.VarianceType        `json:"variance"`
	Loss       ddpm.LossType            `json:"loss"`
	Timesteps  ddpm.TimestepSamplerKind `json:"timesteps"`
	// MinSNRGamma weighs the MSE by min-SNR-gamma (0: off; see ddpm.Diffusion).
	MinSNRGamma float64 `json:"min_snr_gamma,omitempty"`
	// Precision of the network while training, a name in Precisions: "" or
	// "float32", "bfloat16" (the convolutions and matrix products) or
	// "bfloat16-activations" (also their results between layers); mixed
	// precision: weights, Adam's moments, the EMA, GroupNorm, the loss and
	// the gradients' sums stay float32.
	Precision string `json:"precision,omitempty"`

	BatchSize    int     `json:"batch_size"`
	Steps        int     `json:"steps"`
	LearningRate float64 `json:"learning_rate"`
	Warmup       int     `json:"warmup"`    // Steps of linear learning-rate warmup.
	GradClip     float64 `json:"grad_clip"` // Clip the gradients' global norm to this (0: off).
	EMADecay     float64 `json:"ema_decay"`
	HFlip        bool    `json:"hflip"` // Random horizontal flips (CIFAR-10; not digits).
	Seed         int64   `json:"seed"`

	CheckpointEvery int `json:"checkpoint_every"` // Steps between checkpoints (and at the end).
	KeepCheckpoints int `json:"keep_checkpoints"` // How many checkpoints to keep (0: all).
}

// Paper defaults (Ho et al. 2020, Appendix B).
const (
	DefaultLearningRate = 2e-4
	DefaultGradClip     = 1.0
	DefaultEMADecay     = 0.9999
	DefaultWarmup       = 5000
	DefaultBatchSize    = 128
)

// DefaultConfig returns the configuration for a U-Net preset: the paper's
// settings for cifar10; for mnist a budget that trains in about 10 minutes
// on 2 quiet CPU cores (1200 steps of batch 64, learning rate 1e-3 after 100
// warmup steps, EMA 0.995: an EMA of 0.9999 averages over 10,000 steps and
// would lag a short run).
func DefaultConfig(preset string) (Config, error) {
	m, err := unet.Preset(preset)
	if err != nil {
		return Config{}, err
	}
	c := Config{Preset: strings.ToLower(preset), Model: m, Schedule: ddpm.Linear, T: 1000,
		Prediction: ddpm.Epsilon, Variance: ddpm.FixedLarge, Loss: ddpm.Simple, Timesteps: ddpm.UniformTimesteps,
		BatchSize: DefaultBatchSize, Steps: 800000, LearningRate: DefaultLearningRate, Warmup: DefaultWarmup,
		GradClip: DefaultGradClip, EMADecay: DefaultEMADecay, Seed: 1, CheckpointEvery: 5000, KeepCheckpoints: 3}
	switch c.Preset {
	case "cifar10":
		c.HFlip = true
	case "mnist":
		c.BatchSize, c.Steps, c.Warmup, c.EMADecay, c.LearningRate, c.CheckpointEvery = 64, 1200, 100, 0.995, 1e-3, 200
	case "tiny":
		c.BatchSize, c.Steps, c.Warmup, c.EMADecay, c.CheckpointEvery, c.T = 8, 20, 5, 0.9, 10, 100
	}
	return c, nil
}

// PresetData returns the dataset a preset is made for (the -data default of
// ddpm train): "cifar10" for the paper's CIFAR-10 model, "mnist" for the
// others.
func PresetData(preset string) string {
	if strings.EqualFold(strings.TrimSpace(preset), "cifar10") {
		return "cifar10"
	}
	return "mnist"
}

// maxBatch bounds the batch size, so that a mistyped one is an error rather
// than an allocation of terabytes.
const maxBatch = 1 << 16

// Validate checks the configuration.
func (c *Config) Validate() error {
	if err := c.Model.Validate(); err != nil {
		return err
	}
	if _, err := c.Diffusion(); err != nil {
		return err
	}
	switch {
	case c.BatchSize < 1 || c.BatchSize > maxBatch:
		return fmt.Errorf("batch size %d: must lie in [1, %d]", c.BatchSize, maxBatch)
	case c.Steps < 1:
		return fmt.Errorf("steps %d: must be positive", c.Steps)
	case !(c.LearningRate > 0) || math.IsInf(c.LearningRate, 0):
		return fmt.Errorf("learning rate %g: must be positive and finite", c.LearningRate)
	case c.Warmup < 0:
		return fmt.Errorf("warmup %d: must not be negative", c.Warmup)
	case !(c.GradClip >= 0) || math.IsInf(c.GradClip, 0):
		return fmt.Errorf("gradient clip %g: must be >= 0", c.GradClip)
	case !(c.EMADecay >= 0 && c.EMADecay < 1):
		return fmt.Errorf("EMA decay %g: must lie in [0, 1)", c.EMADecay)
	case c.CheckpointEvery < 1:
		return fmt.Errorf("checkpoint interval %d: must be positive", c.CheckpointEvery)
	case c.KeepCheckpoints < 0:
		return fmt.Errorf("keep checkpoints %d: must not be negative", c.KeepCheckpoints)
	}
	if c.Precision != "" {
		if _, err := ParsePrecision(c.Precision); err != nil {
			return err
		}
	}
	return nil
}

// Diffusion returns the diffusion process the configuration trains.
func (c *Config) Diffusion() (*ddpm.Diffusion, error) {
	s, err := ddpm.NewSchedule(c.Schedule, c.T)
	if err != nil {
		return nil, err
	}
	d, err := ddpm.NewDiffusion(s, c.Prediction, c.Variance, c.Loss)
	if err != nil {
		return nil, err
	}
	switch {
	case !(c.MinSNRGamma >= 0) || math.IsInf(c.MinSNRGamma, 0):
		return nil, fmt.Errorf("min-SNR gamma %g: must be >= 0 and finite (0: off)", c.MinSNRGamma)
	case c.MinSNRGamma > 0 && c.Loss == ddpm.VLB:
		return nil, fmt.Errorf("min-SNR gamma %g weighs the mean squared error, which loss %v does not have: use loss simple or hybrid", c.MinSNRGamma, c.Loss)
	}
	d.MinSNRGamma = c.MinSNRGamma
	if want := d.OutputChannels(c.Model.InChannels); c.Model.OutChannels != want {
		return nil, fmt.Errorf("variance %v needs %d output channels for %d image channels, the model has %d",
			c.Variance, want, c.Model.InChannels, c.Model.OutChannels)
	}
	return d, nil
}

// configDiff names the JSON fields that differ.
func configDiff(a, b Config) string {
	var ma, mb map[string]any
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	_ = json.Unmarshal(ja, &ma)
	_ = json.Unmarshal(jb, &mb)
	var diffs []string
	for k, va := range ma {
		if !reflect.DeepEqual(va, mb[k]) {
			diffs = append(diffs, fmt.Sprintf("%s: checkpoint %v, now %v", k, va, mb[k]))
		}
	}
	return strings.Join(diffs, "; ")
}
