package train

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"strings"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/checkpoint"
	"github.com/diffusion-go/ddpm/unet"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

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

// weightsFromFile returns the configuration of a training checkpoint or a
// model file and a context with its weights under the model scope: a
// training checkpoint's EMA weights (or raw weights when ema is false), a
// model file's only weights. LoadTrained, TrainedFromFile and ExportModel
// read weights through it: one load path.
func weightsFromFile(ck *checkpoint.File, ema bool) (Config, *context.Context, error) {
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
	cfg, ctx, err := weightsFromFile(ck, ema)
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

// Precision is a setting of the network's arithmetic (the -precision of
// the command's train, sample and eval). The weights, Adam's moments, the
// EMA, GroupNorm, the softmax, the loss and the sampler's arithmetic are
// float32 in every setting.
type Precision struct {
	Name string
	// Compute is the dtype of the convolutions and matrix products
	// (unet.ParamCompute).
	Compute dtypes.DType
	// Activations, if valid, is the dtype their results are kept in between
	// layers (unet.ParamActivations); otherwise each is converted back to
	// float32.
	Activations dtypes.DType
}

// Precisions are the settings, by name:
//   - float32: everything in float32 (the default);
//   - bfloat16: the products' operands rounded to bfloat16 and the products
//     computed in it, each result converted back to float32;
//   - bfloat16-activations: also the products' results kept in bfloat16
//     between layers (the residual stream, the skip connections and their
//     gradients), as PyTorch's autocast does.
var Precisions = []Precision{
	{Name: "float32", Compute: dtypes.Float32},
	{Name: "bfloat16", Compute: dtypes.BFloat16},
	{Name: "bfloat16-activations", Compute: dtypes.BFloat16, Activations: dtypes.BFloat16},
}

// ParsePrecision returns the precision of a name in Precisions ("" is
// float32).
func ParsePrecision(name string) (Precision, error) {
	if name == "" {
		name = "float32"
	}
	names := make([]string, len(Precisions))
	for i, p := range Precisions {
		if p.Name == name {
			return p, nil
		}
		names[i] = p.Name
	}
	return Precision{}, fmt.Errorf("unknown precision %q: valid values are %s", name, strings.Join(names, ", "))
}

// Apply sets the precision's parameters on a context that a model runs in,
// before its graphs are built.
func (p Precision) Apply(ctx *context.Context) {
	ctx.SetParam(unet.ParamCompute, p.Compute)
	ctx.SetParam(unet.ParamActivations, p.Activations)
}

// SetPrecision sets the precision of the network (a name in Precisions) in
// the graphs built afterwards by Sampler and BPD. Other than float32 it
// changes the model's outputs by rounding; `ddpm eval -precision` measures
// what that costs (on the shipped model with bfloat16 products: no change in
// sample quality, a worse bound).
func (tm *Trained) SetPrecision(name string) error {
	p, err := ParsePrecision(name)
	if err != nil {
		return err
	}
	p.Apply(tm.Context)
	return nil
}

// SetVariance changes the reverse process's variance for the samplers and
// bounds built afterwards. A model trained with a fixed variance may be used
// with the other fixed one (fixed-large sigma^2 = beta_t or fixed-small
// sigma^2 = beta~_t; the network, which predicts only the mean, is the same:
// the paper reports that both give similar samples, and the bound differs);
// a model that learned its variance keeps it, and a fixed-variance model
// cannot learn one after training.
func (tm *Trained) SetVariance(v ddpm.VarianceType) error {
	if v == tm.Diffusion.Variance {
		return nil
	}
	if v.Learned() || tm.Diffusion.Variance.Learned() {
		return fmt.Errorf("variance %s: this model was trained with %s; only a fixed variance can be exchanged for the other fixed one (fixed-large, fixed-small)", v, tm.Diffusion.Variance)
	}
	d := *tm.Diffusion
	d.Variance = v
	tm.Diffusion = &d
	return nil
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

// CheckoutCommit returns the commit of the git checkout around the working
// directory, with "+dirty" when tracked files have changes, or "" outside a
// checkout (or without git). Provenance.Commit and the reports' footers use it.
func CheckoutCommit() string {
	b, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		return ""
	}
	c := strings.TrimSpace(string(b))
	if st, err := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(st) > 0 {
		c += "+dirty"
	}
	return c
}

// ExportModel writes the EMA weights of a training checkpoint to path as a
// model file (checkpoint.Model): the weights a sampler needs and the run's
// configuration, without optimizer state, raw weights or RNG state. Steps
// and ImagesSeen of prov are filled in from the checkpoint.
func ExportModel(ck *checkpoint.File, path string, prov Provenance) error {
	if ck.Kind != checkpoint.Training && ck.Kind != "" {
		return fmt.Errorf("%s holds a %s; export takes a training checkpoint", ck.Path, ck.Kind)
	}
	cfg, ctx, err := weightsFromFile(ck, true)
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
