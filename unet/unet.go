// Package unet is the U-Net of Ho et al. (2020), as in the official
// implementation (diffusion_tf/models/unet.py): ResNet blocks with GroupNorm,
// SiLU and the timestep embedding added after the first convolution;
// self-attention at chosen resolutions; strided-conv downsampling and
// nearest-neighbour + conv upsampling; skip connections from every encoder
// stage to the decoder; a final GroupNorm, SiLU and zero-initialised conv.
//
// Images are [B, H, W, C] (channels last); timesteps are int32 [B].
package unet

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/diffusion-go/ddpm/internal/convgrad"  // Also registers the convolution and bias gradients (cache-sized kernel-gradient slices on XLA CPU).
	_ "github.com/diffusion-go/ddpm/internal/dotgrad" // Matrix-multiply gradients without huge intermediates.
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph" //nolint:staticcheck // Graph code reads as math.
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/ml/context"
	"github.com/gomlx/gomlx/pkg/ml/context/initializers"
	"github.com/gomlx/gomlx/pkg/ml/layers"
	"github.com/pkg/errors"
)

// Config sets every hyperparameter of the network.
type Config struct {
	ImageSize   int // Height and width of the (square) images, e.g. 28 or 32.
	InChannels  int // Channels of the images: 1 (grey) or 3 (RGB).
	OutChannels int // Channels of the output: InChannels, or twice that for a learned variance.

	Channels        int     // ch: channels of the first stage (128 in the paper's CIFAR-10 model).
	ChannelMult     []int   // Channel multiplier per resolution; one downsampling between stages.
	NumResBlocks    int     // ResNet blocks per resolution in the encoder (the decoder has one more).
	AttnResolutions []int   // Resolutions (height) at which self-attention follows each block.
	Dropout         float64 // Dropout rate inside ResNet blocks, during training only.
	NumGroups       int     // GroupNorm groups (32 in the paper); must divide every channel count.
}

var presets = map[string]Config{
	// The paper's CIFAR-10 model: 35.7M parameters.
	"cifar10": {ImageSize: 32, InChannels: 3, OutChannels: 3, Channels: 128, ChannelMult: []int{1, 2, 2, 2},
		NumResBlocks: 2, AttnResolutions: []int{16}, Dropout: 0.1, NumGroups: 32},
	// Small enough to train on 2 CPU cores in minutes: 28x28 -> 14x14 -> 7x7, attention at 7x7.
	// No dropout: a run of a few thousand steps does not overfit 60,000 digits.
	"mnist": {ImageSize: 28, InChannels: 1, OutChannels: 1, Channels: 32, ChannelMult: []int{1, 2, 2},
		NumResBlocks: 1, AttnResolutions: []int{7}, Dropout: 0, NumGroups: 8},
	// For tests: a few thousand parameters, still every kind of block.
	"tiny": {ImageSize: 8, InChannels: 1, OutChannels: 1, Channels: 8, ChannelMult: []int{1, 2},
		NumResBlocks: 1, AttnResolutions: []int{4}, Dropout: 0, NumGroups: 4},
}

// PresetNames lists the presets.
func PresetNames() []string {
	names := make([]string, 0, len(presets))
	for n := range presets {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Preset returns a copy of the named configuration.
func Preset(name string) (Config, error) {
	c, ok := presets[strings.ToLower(strings.TrimSpace(name))]
	if !ok {
		return Config{}, fmt.Errorf("unknown U-Net preset %q: valid presets are %s", name, strings.Join(PresetNames(), ", "))
	}
	c.ChannelMult = slices.Clone(c.ChannelMult)
	c.AttnResolutions = slices.Clone(c.AttnResolutions)
	return c, nil
}

// Limits that catch a mistyped size before it becomes an allocation of
// terabytes; each is far above any model these machines can run.
const (
	maxImageSize = 4096
	maxChannels  = 1 << 14
	maxResBlocks = 64
	maxStages    = 16
)

// Validate checks that the configuration describes a buildable network.
func (c Config) Validate() error {
	switch {
	case c.ImageSize < 1:
		return fmt.Errorf("U-Net image size %d: must be positive", c.ImageSize)
	case c.InChannels < 1 || c.OutChannels < 1:
		return fmt.Errorf("U-Net channels in=%d out=%d: must be positive", c.InChannels, c.OutChannels)
	case c.Channels < 1 || len(c.ChannelMult) == 0:
		return fmt.Errorf("U-Net needs Channels > 0 and at least one ChannelMult, got %d and %v", c.Channels, c.ChannelMult)
	case c.NumResBlocks < 1:
		return fmt.Errorf("U-Net NumResBlocks %d: must be at least 1", c.NumResBlocks)
	case !(c.Dropout >= 0 && c.Dropout < 1): // Also rejects NaN.
		return fmt.Errorf("U-Net dropout %g: must lie in [0, 1)", c.Dropout)
	case c.NumGroups < 1:
		return fmt.Errorf("U-Net NumGroups %d: must be positive", c.NumGroups)
	case c.ImageSize > maxImageSize || c.Channels > maxChannels || c.NumResBlocks > maxResBlocks || len(c.ChannelMult) > maxStages:
		return fmt.Errorf("U-Net too large: image size %d (at most %d), channels %d (at most %d), %d blocks per resolution (at most %d), %d stages (at most %d)",
			c.ImageSize, maxImageSize, c.Channels, maxChannels, c.NumResBlocks, maxResBlocks, len(c.ChannelMult), maxStages)
	}
	size := c.ImageSize
	for i, m := range c.ChannelMult {
		if m < 1 || m > maxChannels {
			return fmt.Errorf("U-Net ChannelMult %v: multipliers must lie in [1, %d]", c.ChannelMult, maxChannels)
		}
		if ch := c.Channels * m; ch%c.NumGroups != 0 {
			return fmt.Errorf("U-Net: %d channels at stage %d are not divisible by %d GroupNorm groups", ch, i, c.NumGroups)
		}
		if i < len(c.ChannelMult)-1 {
			if size%2 != 0 {
				return fmt.Errorf("U-Net: resolution %d at stage %d cannot be halved; image size %d does not suit %d stages",
					size, i, c.ImageSize, len(c.ChannelMult))
			}
			size /= 2
		}
	}
	if c.Channels%2 != 0 {
		return fmt.Errorf("U-Net Channels %d: must be even for the sinusoidal timestep embedding", c.Channels)
	}
	return nil
}

// String returns the configuration as JSON.
func (c Config) String() string {
	b, _ := json.Marshal(c)
	return string(b)
}

// Model is a validated U-Net; Denoise has the signature of ddpm.Denoiser.
type Model struct{ Config Config }

// New validates the configuration and returns the model.
func New(c Config) (*Model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Model{Config: c}, nil
}

// Denoise runs the U-Net: xt [B, S, S, InChannels] float, t int [B] ->
// [B, S, S, OutChannels]. Its variables live under ctx.In("unet").
func (m *Model) Denoise(ctx *context.Context, xt, t *Node) *Node {
	c := m.Config
	if xt.Rank() != 4 || xt.Shape().Dimensions[1] != c.ImageSize || xt.Shape().Dimensions[2] != c.ImageSize ||
		xt.Shape().Dimensions[3] != c.InChannels {
		panic(errors.Errorf("unet: input shaped %s, want [B, %d, %d, %d]", xt.Shape(), c.ImageSize, c.ImageSize, c.InChannels))
	}
	if t.Rank() != 1 || t.Shape().Dimensions[0] != xt.Shape().Dimensions[0] {
		panic(errors.Errorf("unet: timesteps shaped %s, want [%d]", t.Shape(), xt.Shape().Dimensions[0]))
	}
	if act := context.GetParamOr(ctx, ParamActivations, dtypes.InvalidDType); act != dtypes.InvalidDType && xt.DType() != dtypes.Float32 {
		panic(errors.Errorf("unet: %s activations need a float32 network, got %s images", act, xt.DType()))
	}
	ctx = ctx.In("unet").WithInitializer(initializers.XavierUniformFn(ctx))

	// Timestep embedding: sinusoidal, then a two-layer MLP of width 4 ch.
	temb := TimestepEmbedding(ConvertDType(t, xt.DType()), c.Channels)
	temb = dense(ctx.In("temb_dense0"), temb, 4*c.Channels, false)
	temb = dense(ctx.In("temb_dense1"), silu(temb), 4*c.Channels, false)

	// Encoder.
	hs := []*Node{conv(ctx.In("conv_in"), xt, c.Channels, 3, 1, false)}
	block := 0
	next := func(prefix string) *context.Context {
		block++
		return ctx.In(fmt.Sprintf("%s_%02d", prefix, block))
	}
	for level, mult := range c.ChannelMult {
		for range c.NumResBlocks {
			h := m.resBlock(next("down"), hs[len(hs)-1], temb, c.Channels*mult)
			if slices.Contains(c.AttnResolutions, h.Shape().Dimensions[1]) {
				h = m.attnBlock(next("down_attn"), h)
			}
			hs = append(hs, h)
		}
		if level != len(c.ChannelMult)-1 {
			h := hs[len(hs)-1]
			hs = append(hs, conv(next("downsample"), h, h.Shape().Dimensions[3], 3, 2, false))
		}
	}

	// Middle.
	h := hs[len(hs)-1]
	h = m.resBlock(ctx.In("mid_1"), h, temb, h.Shape().Dimensions[3])
	h = m.attnBlock(ctx.In("mid_attn"), h)
	h = m.resBlock(ctx.In("mid_2"), h, temb, h.Shape().Dimensions[3])

	// Decoder: every encoder output comes back through a skip connection.
	for level := len(c.ChannelMult) - 1; level >= 0; level-- {
		for range c.NumResBlocks + 1 {
			skip := hs[len(hs)-1]
			hs = hs[:len(hs)-1]
			h = m.resBlock(next("up"), Concatenate([]*Node{h, skip}, -1), temb, c.Channels*c.ChannelMult[level])
			if slices.Contains(c.AttnResolutions, h.Shape().Dimensions[1]) {
				h = m.attnBlock(next("up_attn"), h)
			}
		}
		if level != 0 {
			h = upsampleConv(next("upsample"), h, h.Shape().Dimensions[3])
		}
	}

	// End.
	h = silu(m.groupNorm(ctx.In("norm_out"), h))
	return ConvertDType(conv(ctx.In("conv_out"), h, c.OutChannels, 3, 1, true), xt.DType())
}

// TimestepEmbedding is the sinusoidal embedding of the official code:
// half = dim/2 frequencies exp(-log(10000) i / (half - 1)), then
// [sin(t f), cos(t f)]. t float [B] -> [B, dim].
func TimestepEmbedding(t *Node, dim int) *Node {
	half := dim / 2
	freqs := make([]float64, half)
	scale := math.Log(10000) / float64(max(half-1, 1))
	for i := range freqs {
		freqs[i] = math.Exp(-float64(i) * scale)
	}
	args := Mul(ExpandAxes(t, -1), ExpandAxes(ConstAs(t, freqs), 0)) // [B, half]
	return Concatenate([]*Node{Sin(args), Cos(args)}, -1)
}

// resBlock: GroupNorm, SiLU, conv; + projected timestep embedding; GroupNorm,
// SiLU, dropout, zero-initialised conv; 1x1 skip when channels change.
func (m *Model) resBlock(ctx *context.Context, x, temb *Node, outCh int) *Node {
	h := conv(ctx.In("conv1"), silu(m.groupNorm(ctx.In("norm1"), x)), outCh, 3, 1, false)
	proj := dense(ctx.In("temb_proj"), silu(temb), outCh, false)
	h = Add(h, Reshape(proj, proj.Shape().Dimensions[0], 1, 1, outCh))
	h = silu(m.groupNorm(ctx.In("norm2"), h))
	if m.Config.Dropout > 0 {
		h = layers.DropoutStatic(ctx, h, m.Config.Dropout)
	}
	h = conv(ctx.In("conv2"), h, outCh, 3, 1, true)
	if x.Shape().Dimensions[3] != outCh {
		x = conv(ctx.In("nin_shortcut"), x, outCh, 1, 1, false)
	}
	return Add(x, h)
}

// attnBlock is single-head self-attention over all positions, with a
// zero-initialised output projection and a residual connection.
func (m *Model) attnBlock(ctx *context.Context, x *Node) *Node {
	dims := x.Shape().Dimensions
	B, H, W, C := dims[0], dims[1], dims[2], dims[3]
	h := m.groupNorm(ctx.In("norm"), x)
	flat := Reshape(h, B, H*W, C)
	q := dense(ctx.In("q"), flat, C, false)
	k := dense(ctx.In("k"), flat, C, false)
	v := dense(ctx.In("v"), flat, C, false)
	dt := computeDType(ctx, x)
	w := MulScalar(ConvertDType(Einsum("bic,bjc->bij", ConvertDType(q, dt), ConvertDType(k, dt)), paramDType(x)), 1/math.Sqrt(float64(C)))
	w = Softmax(w, -1)
	out := ConvertDType(Einsum("bij,bjc->bic", ConvertDType(w, dt), ConvertDType(v, dt)), activationDType(ctx, x))
	out = dense(ctx.In("proj_out"), out, C, true)
	return Add(x, Reshape(out, B, H, W, C))
}

// groupNorm normalises over (H, W, channels of the group), with a learned
// per-channel scale and offset, as tf.contrib.layers.group_norm (eps 1e-6).
// It computes in the weights' dtype (float32 for bfloat16 activations).
// The statistics are two-pass (mean, then the mean square of the centred
// values), each summed first over the H*W positions of every channel
// (sumPositions) and then over the channels of a group. The normalisation
// itself runs on the flattened [B, H*W, C] view (with its broadcasts also
// written through W and a dot, so that their gradients are sumPositions too,
// the mnist gradient pass was 2-6% slower). On XLA CPU this is
// 9% faster for a training step and 15% for a sampling step of the mnist
// preset than one reduction over (H, W, C/G) of a [B, H, W, G, C/G] view,
// and sumPositions in place of a reduction over the flattened positions
// makes the sampling step about 10% faster again.
func (m *Model) groupNorm(ctx *context.Context, x *Node) *Node {
	dims := x.Shape().Dimensions
	B, H, W, C := dims[0], dims[1], dims[2], dims[3]
	G := m.Config.NumGroups
	x = ConvertDType(x, paramDType(x))
	if C%G != 0 {
		panic(errors.Errorf("unet: %d channels are not divisible by %d GroupNorm groups", C, G))
	}
	groupMean := func(v *Node) *Node { // [B, H, W, C] -> mean over H, W and the group's channels, [B, 1, C]
		g := ReduceAndKeep(Reshape(sumPositions(v), B, G, C/G), ReduceSum, -1)
		g = MulScalar(g, 1/float64(H*W*(C/G)))
		return Reshape(BroadcastToDims(g, B, G, C/G), B, 1, C)
	}
	flat := Reshape(x, B, H*W, C)
	centered := Sub(flat, groupMean(x))
	inv := Inverse(Sqrt(AddScalar(groupMean(Reshape(Square(centered), B, H, W, C)), 1e-6)))
	gamma := ctx.WithInitializer(initializers.One).VariableWithShape("gamma", shapes.Make(x.DType(), C)).ValueGraph(x.Graph())
	beta := ctx.WithInitializer(initializers.Zero).VariableWithShape("beta", shapes.Make(x.DType(), C)).ValueGraph(x.Graph())
	out := Add(Mul(centered, Mul(inv, Reshape(gamma, 1, 1, C))), Reshape(beta, 1, 1, C))
	return Reshape(out, B, H, W, C)
}

// sumPositions sums v [B, H, W, C] over H and W, to [B, C]: over W by a
// reduction, over H by a batched dot with a row of ones (convgrad's
// SumBroadcast, which also sums bias gradients so). XLA CPU rewrites a
// reduction along an axis longer than 32 into a windowed reduction of the
// fully computed operand followed by a second reduction; one along W alone
// (at most 32 long in every preset) is left as it is and fused with the
// elementwise expression it reduces, and the dot keeps the sum over H from
// being merged back into it (one reduction over both H and W runs at a
// third of the speed). At 28x28x96 and batch 64 the sum alone takes 0.7 ms
// against 2.4 ms for either single reduction.
func sumPositions(v *Node) *Node {
	B, C := v.Shape().Dimensions[0], v.Shape().Dimensions[3]
	return Reshape(convgrad.SumBroadcast(v, shapes.Make(v.DType(), B, 1, 1, C)), B, C)
}

// conv is a 2D convolution with bias, "same" padding and the given stride;
// zeroInit initialises the kernel at 0 (the official code's init_scale=0,
// which makes every residual block start as the identity).
func conv(ctx *context.Context, x *Node, outCh, kernel, stride int, zeroInit bool) *Node {
	w, b := convVariables(ctx, x, outCh, kernel, zeroInit)
	dt := computeDType(ctx, x)
	y := Convolve(ConvertDType(x, dt), ConvertDType(w, dt)).StridePerAxis(stride, stride).PadSame().Done()
	y = ConvertDType(y, activationDType(ctx, x))
	return Add(y, ConvertDType(Reshape(b, 1, 1, 1, outCh), y.DType()))
}

// ParamCompute is the context parameter (a dtypes.DType) that sets the
// precision of the network's convolutions and matrix products: unset (or
// the input's dtype) computes them in the input's dtype; dtypes.BFloat16
// rounds their operands to it, computes them in it (XLA may accumulate in
// float32 inside) and converts each result back (mixed precision). The
// weights stay float32, and so do GroupNorm, the softmax, the SiLUs,
// biases, the residual sums and the output (unless ParamActivations says
// otherwise). Only bfloat16 is tested (TestMixedPrecision); float16 would
// risk overflow in the unscaled attention logits. Set it on the context the
// model runs in, before the graph is built:
//
//	ctx.SetParam(unet.ParamCompute, dtypes.BFloat16)
const ParamCompute = "unet_compute_dtype"

// ParamActivations is the context parameter (a dtypes.DType) that keeps the
// results of the products in their dtype between layers, as PyTorch's
// autocast does: set to ParamCompute's bfloat16, the convolutions' and
// linear layers' outputs (with their biases added), the residual stream
// and the skip connections are bfloat16, and so are their gradients;
// GroupNorm (statistics and output) and the SiLU after it, the softmax
// and the timestep embedding's sinusoids compute in float32 (the SiLUs of
// the embedding's MLP in bfloat16), the weights stay float32 and
// the output is converted back to the input's dtype. Unset, every result
// is converted back after its product. It needs a float32 network and
// ParamCompute set to the same dtype:
//
//	ctx.SetParam(unet.ParamCompute, dtypes.BFloat16)
//	ctx.SetParam(unet.ParamActivations, dtypes.BFloat16)
const ParamActivations = "unet_activation_dtype"

// computeDType returns the dtype of the products for an input x.
func computeDType(ctx *context.Context, x *Node) dtypes.DType {
	if dt := context.GetParamOr(ctx, ParamCompute, dtypes.InvalidDType); dt != dtypes.InvalidDType {
		return dt
	}
	return x.DType()
}

// activationDType returns the dtype that a product's result on input x is
// kept in: ParamActivations if set, else the weights' dtype.
func activationDType(ctx *context.Context, x *Node) dtypes.DType {
	if dt := context.GetParamOr(ctx, ParamActivations, dtypes.InvalidDType); dt != dtypes.InvalidDType {
		return dt
	}
	return paramDType(x)
}

// paramDType returns the dtype of the weights of a layer whose input is x:
// x's own, except for bfloat16 activations, whose network is float32 (Denoise
// checks).
func paramDType(x *Node) dtypes.DType {
	if x.DType() == dtypes.BFloat16 {
		return dtypes.Float32
	}
	return x.DType()
}

// convVariables returns the kernel [kernel, kernel, in, outCh] and the bias
// [outCh] of a convolution of x, created in ctx on first use.
func convVariables(ctx *context.Context, x *Node, outCh, kernel int, zeroInit bool) (w, b *Node) {
	inCh := x.Shape().Dimensions[3]
	if zeroInit {
		ctx = ctx.WithInitializer(initializers.Zero)
	}
	pd := paramDType(x)
	w = ctx.VariableWithShape("weights", shapes.Make(pd, kernel, kernel, inCh, outCh)).ValueGraph(x.Graph())
	b = ctx.WithInitializer(initializers.Zero).VariableWithShape("biases", shapes.Make(pd, outCh)).ValueGraph(x.Graph())
	return w, b
}

// dense is a linear layer over the last axis with bias.
func dense(ctx *context.Context, x *Node, out int, zeroInit bool) *Node {
	in := x.Shape().Dimensions[x.Rank()-1]
	if zeroInit {
		ctx = ctx.WithInitializer(initializers.Zero)
	}
	pd := paramDType(x)
	w := ctx.VariableWithShape("weights", shapes.Make(pd, in, out)).ValueGraph(x.Graph())
	b := ctx.WithInitializer(initializers.Zero).VariableWithShape("biases", shapes.Make(pd, out)).ValueGraph(x.Graph())
	dt := computeDType(ctx, x)
	var y *Node
	if x.Rank() == 2 {
		y = Dot(ConvertDType(x, dt), ConvertDType(w, dt))
	} else {
		y = Einsum("bic,cd->bid", ConvertDType(x, dt), ConvertDType(w, dt))
	}
	y = ConvertDType(y, activationDType(ctx, x))
	bShape := make([]int, y.Rank())
	for i := range bShape {
		bShape[i] = 1
	}
	bShape[len(bShape)-1] = out
	return Add(y, ConvertDType(Reshape(b, bShape...), y.DType()))
}

// silu is x * sigmoid(x), the official code's "nonlinearity" (swish).
func silu(x *Node) *Node { return Mul(x, Sigmoid(x)) }

// upsampleConv is conv(ctx, upsampleNearest(x), outCh, 3, 1, false), the
// official code's nearest-neighbour upsampling followed by a 3x3 "same"
// convolution, with the same variables, computed without the upsampled
// image: each output pixel (2i+a, 2j+b) sees a 3x3 window of the upsampled
// image that covers only 2x2 input pixels, so each of the four phases (a, b)
// is a 2x2 convolution of x with the 3x3 kernel's taps summed where they
// fall on the same input pixel. Along one axis, with kernel taps k0, k1, k2:
//
//	out[2i]   = k0 x[i-1] + (k1+k2) x[i]      (zero padding before)
//	out[2i+1] = (k0+k1) x[i] + k2 x[i+1]      (zero padding after)
//
// This is 4/9 of the multiply-adds of the convolution of the upsampled image
// (BenchmarkUpsampleConv: 19 -> 10 ms for the mnist preset's 14x14x64 ->
// 28x28x64 at batch 64, forward). The gradients of these even-sized
// convolutions come from internal/convgrad (GoMLX's input gradient is
// wrong for even kernel sizes).
func upsampleConv(ctx *context.Context, x *Node, outCh int) *Node {
	d := x.Shape().Dimensions
	B, H, W := d[0], d[1], d[2]
	k, bias := convVariables(ctx, x, outCh, 3, false)
	dt := computeDType(ctx, x)
	// fold[a][p][u]: how 3x3 tap u adds into 2x2 tap p for phase a.
	var fold [2]*Node
	for a, f := range [2][][]float64{{{1, 0, 0}, {0, 1, 1}}, {{1, 1, 0}, {0, 0, 1}}} {
		fold[a] = ConstAs(k, f)
	}
	var phaseRows []*Node
	for a := range 2 {
		rows := Einsum("pu,uvco->pvco", fold[a], k) // [2, 3, C, O]
		var cols []*Node
		for b := range 2 {
			kab := Einsum("qv,pvco->pqco", fold[b], rows) // [2, 2, C, O]
			y := Convolve(ConvertDType(x, dt), ConvertDType(kab, dt)).StridePerAxis(1, 1).PaddingPerDim([][2]int{{1 - a, a}, {1 - b, b}}).Done()
			cols = append(cols, ConvertDType(y, activationDType(ctx, x)))
		}
		phaseRows = append(phaseRows, Stack(cols, 3)) // [B, H, W, 2(b), O]
	}
	y := Stack(phaseRows, 2) // [B, H, 2(a), W, 2(b), O]
	y = Reshape(y, B, 2*H, 2*W, outCh)
	return Add(y, ConvertDType(Reshape(bias, 1, 1, 1, outCh), y.DType()))
}

// upsampleNearest doubles height and width by repeating pixels.
func upsampleNearest(x *Node) *Node {
	d := x.Shape().Dimensions
	B, H, W, C := d[0], d[1], d[2], d[3]
	y := Reshape(x, B, H, 1, W, 1, C)
	y = BroadcastToDims(y, B, H, 2, W, 2, C)
	return Reshape(y, B, 2*H, 2*W, C)
}

// NumParameters builds the network once on a graph of the backend (nothing
// is executed or initialised) and returns its number of parameters.
func (m *Model) NumParameters(backend backends.Backend) (n int, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("building the U-Net: %v", r)
		}
	}()
	c := m.Config
	g := NewGraph(backend, "unet_count")
	defer g.Finalize()
	ctx := context.New()
	x := Parameter(g, "x", shapes.Make(dtypes.Float32, 1, c.ImageSize, c.ImageSize, c.InChannels))
	t := Parameter(g, "t", shapes.Make(dtypes.Int32, 1))
	m.Denoise(ctx, x, t)
	for v := range ctx.IterVariables() {
		n += v.Shape().Size()
	}
	return n, nil
}
