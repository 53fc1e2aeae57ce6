package train

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/diffusion-go/ddpm"
	"github.com/gomlx/gomlx/pkg/core/distributed"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // Graph code reads as math.
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// gradientOptimizer is an optimizer that applies gradients computed
// elsewhere (here: clipped by their global norm first). GoMLX documents
// this optional method on optimizers.Interface; its Adam implements it. If a
// GoMLX upgrade drops it, buildExec fails with an error that says so, and
// every training test fails with it.
type gradientOptimizer interface {
	UpdateGraphWithGradients(ctx *context.Context, grads []*Node, lossDType dtypes.DType)
}

// buildExec compiles the training step:
// (x0 [B,H,W,C], t int32 [B], weights [B], step float32) -> (loss, per-example losses [B], grad norm, lr).
func (tr *Trainer) buildExec() error {
	cfg := tr.Config
	adam, ok := optimizers.Adam().LearningRate(cfg.LearningRate).Betas(0.9, 0.999).Epsilon(1e-8).Done().(gradientOptimizer)
	if !ok {
		return errors.New("GoMLX's Adam no longer takes precomputed gradients (UpdateGraphWithGradients): the training step needs it to clip them")
	}
	e, err := context.NewExec(tr.backend, tr.ctx.Checked(false), func(ctx *context.Context, inputs []*Node) []*Node {
		x0, t, w, step := inputs[0], inputs[1], inputs[2], inputs[3]
		g := x0.Graph()
		ctx.SetTraining(g, true)
		noise := ctx.RandomNormal(g, x0.Shape())
		losses := tr.diffusion.TrainingLosses(ctx.In(modelScope), tr.model.Denoise, x0, t, noise)
		loss := ReduceAllMean(Mul(losses.Loss, w))
		grads := ctx.BuildTrainableVariablesGradientsGraph(loss)
		norm := clipByGlobalNorm(grads, cfg.GradClip)
		lr := ddpm.ScalarLike(loss, cfg.LearningRate)
		if cfg.Warmup > 0 {
			lr = Mul(lr, MinScalar(DivScalar(AddScalar(step, 1), float64(cfg.Warmup)), 1))
		}
		optimizers.LearningRateVar(ctx, loss.DType(), cfg.LearningRate).SetValueGraph(lr)
		adam.UpdateGraphWithGradients(ctx, grads, loss.DType())
		updateEMA(ctx, g, step, cfg.EMADecay)
		return []*Node{loss, losses.Loss, norm, lr}
	})
	if err != nil {
		return err
	}
	if tr.devices > 1 {
		// Data parallelism through XLA's partitioner: the batch inputs are
		// split on their first axis, the step number, the weights, the Adam
		// state and the EMA are replicated, and XLA inserts the all-reduce of
		// the gradients. The graph is the one-device graph, on the global
		// batch; the noise is drawn for the whole batch and each device takes
		// its part, so N devices compute the one-device step.
		mesh, err := distributed.NewDeviceMesh([]int{tr.devices}, []string{"data"})
		if err != nil {
			return err
		}
		if tr.shard, err = distributed.BuildSpec(mesh).S("data").Done(); err != nil {
			return err
		}
		tr.replicate = distributed.NewReplicatedShardingSpec(mesh)
		e.AutoSharding(mesh).WithInputShardingSpecs(tr.shard, tr.shard, tr.shard, tr.replicate).WithOutputShardingSpecs(tr.replicate)
	}
	tr.exec = e
	return nil
}

// SetDevices makes the training step run on the first n devices of the
// backend, each computing the gradients of BatchSize/n examples of the same
// global batch; the weights, optimizer state and EMA are kept on every
// device and updated identically. Checkpoints do not depend on n: a run may
// be resumed on another number of devices. n must divide the batch size and
// be at most the backend's device count. It must be called before the
// Trainer's first step (a resumed run's first step in this process counts);
// to change it later, close the Trainer and resume the run in a new one.
func (tr *Trainer) SetDevices(n int) error {
	have := tr.backend.NumDevices()
	switch {
	case tr.exec != nil && n != tr.Devices():
		return fmt.Errorf("devices %d: the training step is already compiled for %d; set the devices before the first step (close the trainer and resume the run to change them)", n, tr.Devices())
	case n < 1:
		return fmt.Errorf("devices %d: must be at least 1", n)
	case n > have:
		return fmt.Errorf("%d devices asked for, but the backend (%s) has %d", n, tr.backend.Name(), have)
	case tr.Config.BatchSize%n != 0:
		return fmt.Errorf("batch size %d is not divisible by %d devices: each device takes an equal share of the batch (use a batch size that is a multiple of %d)",
			tr.Config.BatchSize, n, n)
	}
	if n != tr.devices {
		tr.devices, tr.exec = n, nil
	}
	return nil
}

// Devices returns how many devices the training step runs on.
func (tr *Trainer) Devices() int { return max(tr.devices, 1) }

// clipByGlobalNorm scales the gradients in place as TensorFlow's
// clip_by_global_norm does, g * clip / max(norm, clip) (clip 0: unchanged),
// and returns their global norm before clipping.
func clipByGlobalNorm(grads []*Node, clip float64) *Node {
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
	if clip > 0 {
		scale := Div(ddpm.ScalarLike(norm, clip), Max(norm, ddpm.ScalarLike(norm, clip)))
		for i := range grads {
			grads[i] = Mul(grads[i], scale)
		}
	}
	return norm
}

// updateEMA moves the EMA copy (under /ema) of every trainable weight the
// graph uses towards the weight's new value, with the decay warmed up as
// TensorFlow's ExponentialMovingAverage does with num_updates:
// min(decay, (1+n)/(10+n)). Without it a short run's EMA keeps a visible
// share of the random initial weights (0.995^400 = 13% after 400 steps).
func updateEMA(ctx *context.Context, g *Graph, step *Node, maxDecay float64) {
	decay := MinScalar(Div(AddScalar(step, 1), AddScalar(step, 10)), maxDecay)
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
}

func emaPath(scope string) string {
	return "/" + emaScope + strings.TrimSuffix("/"+strings.TrimPrefix(scope, "/"), "/")
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
	var out []*tensors.Tensor
	var err error
	if tr.devices > 1 {
		out, err = tr.execSharded(x, t, w)
	} else {
		out, err = tr.exec.Exec(x, t, w, float32(tr.step))
	}
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

// execSharded runs the step on tr.devices devices. Every output is
// replicated, so device 0's copies are the results.
func (tr *Trainer) execSharded(x *tensors.Tensor, t []int32, w []float32) ([]*tensors.Tensor, error) {
	args := make([]any, 4)
	for i, in := range []struct {
		v    *tensors.Tensor
		spec *distributed.ShardingSpec
	}{{x, tr.shard}, {tensors.FromValue(t), tr.shard}, {tensors.FromValue(w), tr.shard}, {tensors.FromValue(float32(tr.step)), tr.replicate}} {
		d, err := distributed.ShardTensor(in.spec, in.v)
		if err != nil {
			return nil, err
		}
		args[i] = d
	}
	out, err := tr.exec.Exec(args...)
	if err != nil {
		return nil, err
	}
	if len(out) != 4*tr.devices {
		return nil, fmt.Errorf("the step on %d devices returned %d outputs, want %d", tr.devices, len(out), 4*tr.devices)
	}
	for _, o := range out[4:] {
		o.FinalizeAll()
	}
	return out[:4], nil
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
