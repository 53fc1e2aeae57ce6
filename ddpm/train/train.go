// Package train trains a U-Net denoiser as in Ho et al. (2020): Adam with
// learning-rate warmup, gradient clipping by global norm, an exponential
// moving average (EMA) of the weights, atomic checkpoints that resume
// exactly, and a metrics log.
package train

import (
	gocontext "context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/diffusion-go/ddpm/ddpm"
	"github.com/diffusion-go/ddpm/ddpm/checkpoint"
	"github.com/diffusion-go/ddpm/ddpm/data"
	"github.com/diffusion-go/ddpm/ddpm/unet"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // Graph code reads as math.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
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
// settings for cifar10; for mnist a budget that trains on 2 CPU cores in
// about half an hour (1200 steps of batch 64, learning rate 1e-3 after 100
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

// Validate checks the configuration.
// maxBatch bounds the batch size, so that a mistyped one is an error rather
// than an allocation of terabytes.
const maxBatch = 1 << 16

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
	if want := d.OutputChannels(c.Model.InChannels); c.Model.OutChannels != want {
		return nil, fmt.Errorf("variance %v needs %d output channels for %d image channels, the model has %d",
			c.Variance, want, c.Model.InChannels, c.Model.OutChannels)
	}
	return d, nil
}

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
	step      int64 // Steps done.
	perm      []int // Data order of the current epoch.
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

// resume restores the newest checkpoint of the run folder, if any, and opens
// the metrics log.
func (tr *Trainer) resume() error {
	ck, err := checkpoint.Latest(tr.Dir)
	if err != nil {
		return fmt.Errorf("resuming from %s: %w (move the damaged file away to resume from an older checkpoint)", tr.Dir, err)
	}
	if ck != nil {
		if err := tr.restore(ck); err != nil {
			return err
		}
	}
	return tr.openMetrics()
}

// restore loads a checkpoint into the trainer.
func (tr *Trainer) restore(ck *checkpoint.File) error {
	if ck.Kind != checkpoint.Training && ck.Kind != "" {
		return fmt.Errorf("%s holds a %s, not a training checkpoint: move it out of the run folder", ck.Path, ck.Kind)
	}
	var saved Config
	if err := json.Unmarshal(ck.Config, &saved); err != nil {
		return fmt.Errorf("checkpoint %s: configuration: %w", ck.Path, err)
	}
	want := tr.Config
	saved.Steps, want.Steps = 0, 0
	if !reflect.DeepEqual(saved, want) {
		return fmt.Errorf("checkpoint %s was written by a different configuration (%s): use another folder, or the same flags", ck.Path, configDiff(saved, want))
	}
	for _, v := range ck.Vars {
		scope, name := checkpoint.SplitName(v.Name)
		vr := tr.ctx.GetVariableByScopeAndName(scope, name)
		if vr == nil {
			vr = tr.ctx.InAbsPath(scope).Checked(false).VariableWithValue(name, v.Value)
		} else if err := vr.SetValue(v.Value); err != nil {
			return err
		}
		vr.SetTrainable(v.Trainable)
	}
	tr.step = ck.Step
	if las, ok := tr.sampler.(*ddpm.LossAwareSampler); ok && len(ck.State) > 0 {
		var st ddpm.LossAwareState
		if err := json.Unmarshal(ck.State, &st); err != nil {
			return fmt.Errorf("checkpoint %s: sampler state: %w", ck.Path, err)
		}
		if err := las.SetState(st); err != nil {
			return fmt.Errorf("checkpoint %s: %w", ck.Path, err)
		}
	}
	return nil
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

// Step returns the number of steps done.
func (tr *Trainer) Step() int64 { return tr.step }

// Diffusion returns the diffusion process being trained.
func (tr *Trainer) Diffusion() *ddpm.Diffusion { return tr.diffusion }

// Model returns the network.
func (tr *Trainer) Model() *unet.Model { return tr.model }

// buildExec compiles the training step:
// (x0 [B,H,W,C], t int32 [B], weights [B], step float32) -> (loss, per-example losses [B], grad norm, lr).
func (tr *Trainer) buildExec() error {
	cfg := tr.Config
	// GoMLX's Adam, fed with our clipped gradients.
	adam, ok := optimizers.Adam().LearningRate(cfg.LearningRate).Betas(0.9, 0.999).Epsilon(1e-8).Done().(interface {
		UpdateGraphWithGradients(ctx *context.Context, grads []*Node, lossDType dtypes.DType)
	})
	if !ok {
		return errors.New("GoMLX's Adam does not take precomputed gradients")
	}
	e, err := context.NewExec(tr.backend, tr.ctx.Checked(false), func(ctx *context.Context, inputs []*Node) []*Node {
		x0, t, w, step := inputs[0], inputs[1], inputs[2], inputs[3]
		g := x0.Graph()
		ctx.SetTraining(g, true)
		noise := ctx.RandomNormal(g, x0.Shape())
		losses := tr.diffusion.TrainingLosses(ctx.In(modelScope), tr.model.Denoise, x0, t, noise)
		loss := ReduceAllMean(Mul(losses.Loss, w))
		grads := ctx.BuildTrainableVariablesGradientsGraph(loss)
		var sq *Node
		for _, gr := range grads {
			s := ReduceAllSum(Square(gr))
			if sq == nil {
				sq = s
			} else {
				sq = Add(sq, s)
			}
		}
		norm := Sqrt(sq)
		if cfg.GradClip > 0 { // tf.clip_by_global_norm: g * clip / max(norm, clip).
			scale := Div(ddpm.ScalarLike(norm, cfg.GradClip), Max(norm, ddpm.ScalarLike(norm, cfg.GradClip)))
			for i := range grads {
				grads[i] = Mul(grads[i], scale)
			}
		}
		lr := ddpm.ScalarLike(loss, cfg.LearningRate)
		if cfg.Warmup > 0 {
			lr = Mul(lr, MinScalar(DivScalar(AddScalar(step, 1), float64(cfg.Warmup)), 1))
		}
		optimizers.LearningRateVar(ctx, loss.DType(), cfg.LearningRate).SetValueGraph(lr)
		adam.UpdateGraphWithGradients(ctx, grads, loss.DType())

		// EMA of every trainable weight, with the decay warmed up as TensorFlow's
		// ExponentialMovingAverage does with num_updates: min(decay, (1+n)/(10+n)).
		// Without it a short run's EMA keeps a visible share of the random
		// initial weights (0.995^400 = 13% after 400 steps).
		decay := MinScalar(Div(AddScalar(step, 1), AddScalar(step, 10)), cfg.EMADecay)
		var trainable []*context.Variable
		for v := range ctx.IterVariables() {
			if v.Trainable && v.InUseByGraph(g) {
				trainable = append(trainable, v)
			}
		}
		for _, v := range trainable {
			ema := ctx.InAbsPath(emaPath(v.Scope())).Checked(false).WithInitializer(initializers.Zero).
				VariableWithShape(v.Name(), v.Shape()).SetTrainable(false)
			cur := v.ValueGraph(g)
			ema.SetValueGraph(Add(Mul(ema.ValueGraph(g), decay), Mul(cur, OneMinus(decay))))
		}
		return []*Node{loss, losses.Loss, norm, lr}
	})
	if err != nil {
		return err
	}
	tr.exec = e
	return nil
}

func emaPath(scope string) string {
	return "/" + emaScope + strings.TrimSuffix("/"+strings.TrimPrefix(scope, "/"), "/")
}

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

// ErrNonFinite is returned (wrapped) when the loss or gradient is NaN or Inf.
var ErrNonFinite = errors.New("non-finite loss")

// TrainStep runs one step. A NaN or Inf loss returns an error wrapping
// ErrNonFinite; nothing is written to disk then.
func (tr *Trainer) TrainStep() (StepStats, error) {
	if tr.exec == nil {
		if err := tr.buildExec(); err != nil {
			return StepStats{}, err
		}
	}
	start := time.Now()
	x, t, w := tr.batch(tr.step)
	out, err := tr.exec.Exec(x, t, w, float32(tr.step))
	if err != nil {
		return StepStats{}, fmt.Errorf("training step %d: %w", tr.step+1, err)
	}
	st := StepStats{Step: tr.step + 1, Loss: scalar(out[0]), GradNorm: scalar(out[2]), LearningRate: scalar(out[3]),
		Seconds: time.Since(start).Seconds()}
	if math.IsNaN(st.Loss) || math.IsInf(st.Loss, 0) || math.IsNaN(st.GradNorm) || math.IsInf(st.GradNorm, 0) {
		return st, fmt.Errorf("training step %d: loss %v, gradient norm %v: %w; the last checkpoint in %s is intact (lower the learning rate or check the data)",
			tr.step+1, st.Loss, st.GradNorm, ErrNonFinite, tr.Dir)
	}
	var per []float32
	_ = out[1].ConstFlatData(func(f any) { per = append(per, f.([]float32)...) })
	tr.sampler.Update(t, per)
	tr.step++
	return st, nil
}

func scalar(t *tensors.Tensor) float64 {
	var v float64
	_ = t.ConstFlatData(func(f any) {
		switch x := f.(type) {
		case []float32:
			v = float64(x[0])
		case []float64:
			v = x[0]
		}
	})
	return v
}

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

// Save writes a checkpoint of the current state and prunes old ones.
func (tr *Trainer) Save() (string, error) {
	cfgJSON, err := json.Marshal(tr.Config)
	if err != nil {
		return "", err
	}
	h := checkpoint.Header{Kind: checkpoint.Training, Step: tr.step, Config: cfgJSON}
	if las, ok := tr.sampler.(*ddpm.LossAwareSampler); ok {
		if h.State, err = json.Marshal(las.State()); err != nil {
			return "", err
		}
	}
	var vars []checkpoint.Var
	for v := range tr.ctx.IterVariables() {
		val, err := v.Value()
		if err != nil {
			return "", fmt.Errorf("checkpoint: variable %s: %w", v.ScopeAndName(), err)
		}
		vars = append(vars, checkpoint.Var{Name: v.Scope() + "/" + v.Name(), Trainable: v.Trainable, Value: val})
	}
	path, err := checkpoint.Write(tr.Dir, h, vars)
	if err != nil {
		return "", err
	}
	return path, checkpoint.Prune(tr.Dir, tr.Config.KeepCheckpoints)
}

// metricsFile is the name of the metrics log (JSON lines) in the run folder.
const metricsFile = "metrics.jsonl"

// openMetrics opens the metrics log, dropping lines past the resumed step
// (they came from steps that will be run again).
func (tr *Trainer) openMetrics() error {
	if err := os.MkdirAll(tr.Dir, 0o755); err != nil {
		return fmt.Errorf("run folder: %w", err)
	}
	path := filepath.Join(tr.Dir, metricsFile)
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var kept []byte
	for _, line := range strings.SplitAfter(string(old), "\n") {
		var st StepStats
		if json.Unmarshal([]byte(line), &st) == nil && st.Step <= tr.step && strings.HasSuffix(line, "\n") {
			kept = append(kept, line...)
		}
	}
	if err := os.WriteFile(path+".tmp", kept, 0o644); err != nil {
		os.Remove(path + ".tmp")
		return fmt.Errorf("run folder %s is not writable: %w", tr.Dir, err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("run folder %s is not writable: %w", tr.Dir, err)
	}
	tr.metrics, err = os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	return err
}

func (tr *Trainer) logMetrics(st StepStats) error {
	b, _ := json.Marshal(st)
	if _, err := tr.metrics.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Join(tr.Dir, metricsFile), err)
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

// ModelContext returns ctx.In("model"), where the denoiser's variables live.
func ModelContext(ctx *context.Context) *context.Context { return ctx.In(modelScope) }

// modelContext copies the model weights (or their EMA) into a fresh context.
func modelContext(src *context.Context, ema bool) (*context.Context, error) {
	dst := context.New()
	prefix := "/" + modelScope
	if ema {
		prefix = "/" + emaScope + "/" + modelScope
	}
	n := 0
	for v := range src.IterVariables() {
		scope := v.Scope()
		if scope != prefix && !strings.HasPrefix(scope, prefix+"/") {
			continue
		}
		val, err := v.Value()
		if err != nil {
			return nil, err
		}
		target := "/" + modelScope + strings.TrimPrefix(scope, prefix)
		dst.InAbsPath(target).Checked(false).VariableWithValue(v.Name(), val).SetTrainable(false)
		n++
	}
	if n == 0 {
		which := "weights"
		if ema {
			which = "EMA weights"
		}
		return nil, fmt.Errorf("no model %s found (scope %s)", which, prefix)
	}
	return dst, nil
}

// LoadForSampling reads a training checkpoint or a model file and returns
// its configuration and a context with its weights under the model scope: a
// training checkpoint's EMA weights (or raw weights when ema is false), a
// model file's only weights.
func LoadForSampling(path string, ema bool) (Config, *context.Context, error) {
	ck, err := checkpoint.Read(path)
	if err != nil {
		return Config{}, nil, err
	}
	return FromFile(ck, ema)
}

// FromFile is LoadForSampling on a file already read.
func FromFile(ck *checkpoint.File, ema bool) (Config, *context.Context, error) {
	path := ck.Path
	switch ck.Kind {
	case checkpoint.Training, checkpoint.Model, "":
	default:
		return Config{}, nil, fmt.Errorf("%s holds a %s, not a diffusion model", path, ck.Kind)
	}
	var cfg Config
	if err := json.Unmarshal(ck.Config, &cfg); err != nil {
		return Config{}, nil, fmt.Errorf("checkpoint %s: configuration: %w", path, err)
	}
	if err := cfg.Validate(); err != nil {
		return Config{}, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	src := context.New()
	for _, v := range ck.Vars {
		scope, name := checkpoint.SplitName(v.Name)
		src.InAbsPath(scope).Checked(false).VariableWithValue(name, v.Value)
	}
	if ck.Kind == checkpoint.Model {
		if !ema {
			return Config{}, nil, fmt.Errorf("%s is a model file with one set of weights (its run's EMA): there are no raw weights to use", path)
		}
		ema = false // The model scope already holds them.
	}
	ctx, err := modelContext(src, ema)
	if err != nil {
		return Config{}, nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	return cfg, ctx, nil
}

// Trained is a checkpoint ready to sample from or evaluate.
type Trained struct {
	Path      string
	Step      int64 // Training steps of the weights.
	Config    Config
	Diffusion *ddpm.Diffusion
	Model     *unet.Model
	Context   *context.Context // The weights, under the model scope (see ModelContext).
}

// LoadTrained reads a checkpoint (its EMA weights unless ema is false) and
// builds its diffusion process and network.
func LoadTrained(path string, ema bool) (*Trained, error) {
	ck, err := checkpoint.Read(path)
	if err != nil {
		return nil, err
	}
	return TrainedFromFile(ck, ema)
}

// TrainedFromFile is LoadTrained on a file already read.
func TrainedFromFile(ck *checkpoint.File, ema bool) (*Trained, error) {
	cfg, ctx, err := FromFile(ck, ema)
	if err != nil {
		return nil, err
	}
	d, err := cfg.Diffusion()
	if err != nil {
		return nil, err
	}
	m, err := unet.New(cfg.Model)
	if err != nil {
		return nil, err
	}
	return &Trained{Path: ck.Path, Step: ck.Step, Config: cfg, Diffusion: d, Model: m, Context: ctx}, nil
}

// Sampler returns a sampler of the trained model on the backend.
func (tm *Trained) Sampler(backend backends.Backend) *ddpm.Sampler {
	return ddpm.NewSampler(backend, ModelContext(tm.Context), tm.Diffusion, tm.Model.Denoise)
}

// BPD evaluates the variational bound of images x0 under the trained model.
func (tm *Trained) BPD(backend backends.Backend, x0 *tensors.Tensor, opts ddpm.BPDOptions) (*ddpm.BPD, error) {
	return ddpm.CalcBPD(backend, ModelContext(tm.Context), tm.Diffusion, tm.Model.Denoise, x0, opts)
}

// Provenance records how a model file was made.
type Provenance struct {
	Command     string  `json:"command"`                // The training command line.
	Commit      string  `json:"commit,omitempty"`       // The code's commit.
	Machine     string  `json:"machine,omitempty"`      // CPU (and cores) or accelerator.
	Backend     string  `json:"backend,omitempty"`      // What ran the graphs.
	WallSeconds float64 `json:"wall_seconds,omitempty"` // Training time, compilation included.
	Steps       int64   `json:"steps"`                  // Training steps of the exported weights.
	ImagesSeen  int64   `json:"images_seen"`            // Steps times batch size.
	Epochs      float64 `json:"epochs,omitempty"`       // ImagesSeen over the training set's size.
	Source      string  `json:"source,omitempty"`       // The checkpoint it was exported from.
	Notes       string  `json:"notes,omitempty"`
}

// ExportModel writes the EMA weights of a training checkpoint to path as a
// model file (checkpoint.Model): the weights a sampler needs and the run's
// configuration, without optimizer state, raw weights or RNG state. Steps
// and ImagesSeen of prov are filled in from the checkpoint.
func ExportModel(ck *checkpoint.File, path string, prov Provenance) error {
	if ck.Kind != checkpoint.Training && ck.Kind != "" {
		return fmt.Errorf("%s holds a %s; export takes a training checkpoint", ck.Path, ck.Kind)
	}
	cfg, ctx, err := FromFile(ck, true)
	if err != nil {
		return err
	}
	prov.Steps, prov.ImagesSeen = ck.Step, ck.Step*int64(cfg.BatchSize)
	provJSON, err := json.Marshal(prov)
	if err != nil {
		return err
	}
	var vars []checkpoint.Var
	for v := range ctx.IterVariables() {
		val, err := v.Value()
		if err != nil {
			return err
		}
		vars = append(vars, checkpoint.Var{Name: v.Scope() + "/" + v.Name(), Value: val})
	}
	return checkpoint.WriteFile(path, checkpoint.Header{Kind: checkpoint.Model, Step: ck.Step, Config: ck.Config, Provenance: provJSON}, vars)
}
