package eval

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/diffusion-go/ddpm/checkpoint"
	"github.com/diffusion-go/ddpm/data"
	_ "github.com/diffusion-go/ddpm/internal/convgrad" // Kernel gradients in cache-sized batch slices on XLA CPU.
	_ "github.com/diffusion-go/ddpm/internal/dotgrad"  // Matrix-multiply gradients without huge intermediates.
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // Graph code reads as math.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/gomlx/gomlx/pkg/ml/layers/activations"
	"github.com/gomlx/gomlx/pkg/ml/train/losses"
	"github.com/gomlx/gomlx/pkg/ml/train/optimizers"
)

// ClassifierConfig describes the feature network of the sample-quality
// metrics: a small CNN trained to classify the images of a dataset.
//
//	conv3x3(32) ReLU maxpool2 · conv3x3(64) ReLU maxpool2 · conv3x3(64) ReLU ·
//	dense(Features) ReLU [the features] · dropout · dense(Classes) [the logits]
//
// Images are in [-1, 1], [B, H, W, C] with H and W divisible by 4.
type ClassifierConfig struct {
	Kind         string  `json:"kind"` // Always "classifier": tells its checkpoints from a DDPM's.
	ImageSize    int     `json:"image_size"`
	Channels     int     `json:"channels"`
	Classes      int     `json:"classes"`
	Features     int     `json:"features"`
	Dropout      float64 `json:"dropout"`
	Epochs       int     `json:"epochs"`
	BatchSize    int     `json:"batch_size"`
	LearningRate float64 `json:"learning_rate"`
	Seed         int64   `json:"seed"`
	// TestAccuracy is measured after training on the dataset's test split.
	TestAccuracy float64 `json:"test_accuracy"`
	Dataset      string  `json:"dataset"`
}

// DefaultClassifierConfig is the MNIST feature network: 3 epochs of Adam
// reach about 99% test accuracy.
func DefaultClassifierConfig() ClassifierConfig {
	return ClassifierConfig{Kind: classifierKind, ImageSize: 28, Channels: 1, Classes: 10, Features: 128,
		Dropout: 0.3, Epochs: 3, BatchSize: 128, LearningRate: 1e-3, Seed: 1, Dataset: "mnist"}
}

const classifierKind = "classifier"

// Validate reports the first invalid setting.
func (c ClassifierConfig) Validate() error {
	switch {
	case c.Kind != classifierKind:
		return fmt.Errorf("classifier: kind %q, want %q", c.Kind, classifierKind)
	case c.ImageSize < 4 || c.ImageSize%4 != 0:
		return fmt.Errorf("classifier: image size %d must be a positive multiple of 4", c.ImageSize)
	case c.Channels < 1 || c.Classes < 2 || c.Features < 1:
		return fmt.Errorf("classifier: %d channels, %d classes, %d features: need at least 1, 2, 1", c.Channels, c.Classes, c.Features)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("classifier: dropout %g must be in [0, 1)", c.Dropout)
	case c.Epochs < 1 || c.BatchSize < 1 || !(c.LearningRate > 0):
		return fmt.Errorf("classifier: epochs %d, batch %d, learning rate %g must be positive", c.Epochs, c.BatchSize, c.LearningRate)
	}
	return nil
}

// Classifier is a trained feature network.
type Classifier struct {
	Config  ClassifierConfig
	backend backends.Backend
	ctx     *context.Context
	infer   *context.Exec // images -> features, probabilities
}

// logits builds the network; it also returns the features (the penultimate
// activations).
func (c *Classifier) logits(ctx *context.Context, x *Node) (logits, features *Node) {
	cfg := c.Config
	h := x
	for i, ch := range []int{32, 64, 64} {
		h = activations.Relu(conv3(ctx.In(fmt.Sprintf("conv%d", i)), h, ch))
		if i < 2 {
			h = MaxPool(h).Window(2).Done()
		}
	}
	d := h.Shape().Dimensions
	h = Reshape(h, d[0], d[1]*d[2]*d[3])
	features = activations.Relu(denseLayer(ctx.In("features"), h, cfg.Features))
	h = features
	if cfg.Dropout > 0 {
		h = layers.DropoutStatic(ctx, h, cfg.Dropout)
	}
	return denseLayer(ctx.In("logits"), h, cfg.Classes), features
}

func conv3(ctx *context.Context, x *Node, out int) *Node {
	in := x.Shape().Dimensions[3]
	w := ctx.VariableWithShape("weights", shapes.Make(x.DType(), 3, 3, in, out)).ValueGraph(x.Graph())
	b := ctx.WithInitializer(initializers.Zero).VariableWithShape("biases", shapes.Make(x.DType(), out)).ValueGraph(x.Graph())
	return Add(Convolve(x, w).StridePerAxis(1, 1).PadSame().Done(), Reshape(b, 1, 1, 1, out))
}

func denseLayer(ctx *context.Context, x *Node, out int) *Node {
	in := x.Shape().Dimensions[1]
	w := ctx.VariableWithShape("weights", shapes.Make(x.DType(), in, out)).ValueGraph(x.Graph())
	b := ctx.WithInitializer(initializers.Zero).VariableWithShape("biases", shapes.Make(x.DType(), out)).ValueGraph(x.Graph())
	return Add(Dot(x, w), Reshape(b, 1, out))
}

// TrainClassifier trains the feature network on labelled images (pixels
// scaled to [-1, 1]) and measures its accuracy on test. Training is a
// function of the seed: data order, initialisation and dropout. progress, if
// set, is called after every step.
func TrainClassifier(backend backends.Backend, cfg ClassifierConfig, trainSet, test *data.Images, progress func(step, total int, loss float64)) (c *Classifier, err error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	for _, ds := range []*data.Images{trainSet, test} {
		if err := cfg.checkImages(ds); err != nil {
			return nil, err
		}
		if len(ds.Labels) != ds.N {
			return nil, fmt.Errorf("classifier: %d images but %d labels", ds.N, len(ds.Labels))
		}
		for _, l := range ds.Labels {
			if int(l) >= cfg.Classes {
				return nil, fmt.Errorf("classifier: label %d out of range for %d classes", l, cfg.Classes)
			}
		}
	}
	defer func() {
		if r := recover(); r != nil {
			c, err = nil, fmt.Errorf("classifier: %v", r)
		}
	}()
	c = &Classifier{Config: cfg, backend: backend, ctx: context.New()}
	c.ctx.SetParam(initializers.ParamInitialSeed, cfg.Seed)
	if err := c.ctx.SetRNGStateFromSeed(cfg.Seed); err != nil {
		return nil, err
	}
	c.ctx = c.ctx.WithInitializer(initializers.HeFn(c.ctx))
	adam := optimizers.Adam().LearningRate(cfg.LearningRate).Done()
	step, err := context.NewExec(backend, c.ctx, func(ctx *context.Context, x, y *Node) *Node {
		ctx.SetTraining(x.Graph(), true)
		logits, _ := c.logits(ctx, x)
		loss := ReduceAllMean(losses.SparseCategoricalCrossEntropyLogits([]*Node{y}, []*Node{logits}))
		adam.UpdateGraph(ctx, x.Graph(), loss)
		return loss
	})
	if err != nil {
		return nil, err
	}
	defer step.Finalize()
	size := trainSet.H * trainSet.W * trainSet.C
	pix := trainSet.Float()
	perEpoch := trainSet.N / cfg.BatchSize
	total := perEpoch * cfg.Epochs
	x := make([]float32, cfg.BatchSize*size)
	y := make([]int32, cfg.BatchSize)
	for e := range cfg.Epochs {
		perm := rand.New(rand.NewPCG(uint64(cfg.Seed), uint64(e))).Perm(trainSet.N)
		for b := range perEpoch {
			for j := range cfg.BatchSize {
				i := perm[b*cfg.BatchSize+j]
				copy(x[j*size:(j+1)*size], pix[i*size:(i+1)*size])
				y[j] = int32(trainSet.Labels[i])
			}
			out, err := step.Exec(tensors.FromFlatDataAndDimensions(x, cfg.BatchSize, trainSet.H, trainSet.W, trainSet.C),
				tensors.FromFlatDataAndDimensions(y, cfg.BatchSize, 1))
			if err != nil {
				return nil, err
			}
			loss := float64(tensors.ToScalar[float32](out[0]))
			if math.IsNaN(loss) || math.IsInf(loss, 0) {
				return nil, fmt.Errorf("classifier: loss %v at step %d; lower the learning rate", loss, e*perEpoch+b+1)
			}
			if progress != nil {
				progress(e*perEpoch+b+1, total, loss)
			}
		}
	}
	pred, err := c.Predict(test)
	if err != nil {
		return nil, err
	}
	correct := 0
	for i, p := range pred.Labels() {
		if p == int(test.Labels[i]) {
			correct++
		}
	}
	c.Config.TestAccuracy = float64(correct) / float64(test.N)
	return c, nil
}

func (cfg ClassifierConfig) checkImages(ds *data.Images) error {
	if ds == nil || ds.N == 0 {
		return errors.New("classifier: no images")
	}
	if ds.H != cfg.ImageSize || ds.W != cfg.ImageSize || ds.C != cfg.Channels {
		return fmt.Errorf("classifier: images are %dx%dx%d but the classifier takes %dx%dx%d",
			ds.H, ds.W, ds.C, cfg.ImageSize, cfg.ImageSize, cfg.Channels)
	}
	return nil
}

// Predictions are the classifier's outputs for n images.
type Predictions struct {
	N, Classes, Dim int
	Features        []float64 // [N, Dim] penultimate activations.
	Probs           []float64 // [N, Classes] softmax probabilities.
}

// Labels returns the most probable class of each image.
func (p *Predictions) Labels() []int {
	out := make([]int, p.N)
	for i := range p.N {
		row := p.Probs[i*p.Classes : (i+1)*p.Classes]
		for k, v := range row {
			if v > row[out[i]] {
				out[i] = k
			}
		}
	}
	return out
}

// predictBatch is the fixed batch size of inference (the last batch is
// padded), so one compiled graph serves every call.
const predictBatch = 250

// Predict runs the classifier on images (uint8 pixels, scaled to [-1, 1]).
func (c *Classifier) Predict(ds *data.Images) (*Predictions, error) {
	if err := c.Config.checkImages(ds); err != nil {
		return nil, err
	}
	return c.PredictFloat(ds.Float(), ds.N)
}

// PredictFloat runs the classifier on n images given as floats in [-1, 1],
// flat [n, H, W, C].
func (c *Classifier) PredictFloat(pixels []float32, n int) (p *Predictions, err error) {
	cfg := c.Config
	size := cfg.ImageSize * cfg.ImageSize * cfg.Channels
	if n < 1 || len(pixels) != n*size {
		return nil, fmt.Errorf("classifier: %d values are not %d images of %dx%dx%d", len(pixels), n, cfg.ImageSize, cfg.ImageSize, cfg.Channels)
	}
	defer func() {
		if r := recover(); r != nil {
			p, err = nil, fmt.Errorf("classifier: %v", r)
		}
	}()
	if c.infer == nil {
		c.infer, err = context.NewExec(c.backend, c.ctx.Checked(false), func(ctx *context.Context, x *Node) []*Node {
			logits, feats := c.logits(ctx, x)
			return []*Node{ConvertDType(feats, dtypes.Float64), ConvertDType(Softmax(logits, -1), dtypes.Float64)}
		})
		if err != nil {
			return nil, err
		}
	}
	p = &Predictions{N: n, Classes: cfg.Classes, Dim: cfg.Features}
	buf := make([]float32, predictBatch*size)
	for b0 := 0; b0 < n; b0 += predictBatch {
		b1 := min(b0+predictBatch, n)
		clear(buf)
		copy(buf, pixels[b0*size:b1*size])
		out, err := c.infer.Exec(tensors.FromFlatDataAndDimensions(buf, predictBatch, cfg.ImageSize, cfg.ImageSize, cfg.Channels))
		if err != nil {
			return nil, err
		}
		feats, probs := tensors.MustCopyFlatData[float64](out[0]), tensors.MustCopyFlatData[float64](out[1])
		p.Features = append(p.Features, feats[:(b1-b0)*cfg.Features]...)
		p.Probs = append(p.Probs, probs[:(b1-b0)*cfg.Classes]...)
	}
	for _, v := range p.Features {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, errors.New("classifier: features are NaN or Inf (are the images NaN?)")
		}
	}
	return p, nil
}

// Save writes the classifier to a checkpoint file (the format of ddpm
// checkpoints, with the classifier's configuration in the header).
func (c *Classifier) Save(path string) error {
	cfg, err := json.Marshal(c.Config)
	if err != nil {
		return err
	}
	var vars []checkpoint.Var
	for v := range c.ctx.IterVariables() {
		if !v.Trainable {
			continue // Optimizer state and RNG are not needed to use the classifier.
		}
		t, err := v.Value()
		if err != nil {
			return err
		}
		vars = append(vars, checkpoint.Var{Name: v.Scope() + "/" + v.Name(), Trainable: true, Value: t})
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return checkpoint.WriteFile(path, checkpoint.Header{Kind: checkpoint.Classifier, Config: cfg}, vars)
}

// LoadClassifier reads a classifier saved by Save.
func LoadClassifier(backend backends.Backend, path string) (*Classifier, error) {
	ck, err := checkpoint.Read(path)
	if err != nil {
		return nil, err
	}
	var cfg ClassifierConfig
	if ck.Kind != checkpoint.Classifier && ck.Kind != "" {
		return nil, fmt.Errorf("%s holds a %s, not a classifier (train one with: ddpm classifier -out %s)", path, ck.Kind, path)
	}
	if err := json.Unmarshal(ck.Config, &cfg); err != nil || cfg.Kind != classifierKind {
		return nil, fmt.Errorf("%s is not a classifier checkpoint (train one with: ddpm classifier -out %s)", path, path)
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c := &Classifier{Config: cfg, backend: backend, ctx: context.New()}
	for _, v := range ck.Vars {
		scope, name := checkpoint.SplitName(v.Name)
		c.ctx.InAbsPath(scope).Checked(false).VariableWithValue(name, v.Value).SetTrainable(false)
	}
	// Check that every weight the network needs is there, with its shape.
	probe := &Classifier{Config: cfg, ctx: context.New()}
	if err := probe.shapesOK(backend, c.ctx); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// shapesOK builds the network on a fresh context and compares its variables
// with those of have.
func (c *Classifier) shapesOK(backend backends.Backend, have *context.Context) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("building the classifier: %v", r)
		}
	}()
	g := NewGraph(backend, "classifier_shapes")
	defer g.Finalize()
	cfg := c.Config
	c.logits(c.ctx, Parameter(g, "x", shapes.Make(dtypes.Float32, 1, cfg.ImageSize, cfg.ImageSize, cfg.Channels)))
	for v := range c.ctx.IterVariables() {
		got := have.InAbsPath(v.Scope()).GetVariable(v.Name())
		if got == nil {
			return fmt.Errorf("classifier weight %s/%s is missing", v.Scope(), v.Name())
		}
		if !got.Shape().Equal(v.Shape()) {
			return fmt.Errorf("classifier weight %s/%s has shape %s, want %s", v.Scope(), v.Name(), got.Shape(), v.Shape())
		}
	}
	return nil
}
