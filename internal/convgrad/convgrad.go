// Package convgrad is the gradient of GoMLX's convolution (ConvGeneral)
// without channel or batch grouping: both gradients built here, the kernel
// gradient in batch slices that fit in the cache on XLA CPU, as one matrix
// multiply of image patches for convolutions with few channels on one side,
// and as one matrix multiply for 1x1 kernels.
//
// GoMLX builds the kernel gradient of a convolution as one more convolution:
// the input, with batch and channels swapped, convolved with the output
// gradient as a "kernel" as large as the image (28x28 for the mnist
// preset's first stage), producing the 3x3 kernel gradient. The XLA CPU
// plugin runs convolutions through oneDNN (with the settings of
// backend) or YNNPACK, which then contract over H x W x batch at once:
// for the mnist preset's first stage (batch 64, 28x28, 32 channels) that
// took 20 ms against 5 ms for the forward convolution (YNNPACK).
//
// The kernel gradient is a sum over the batch, so it is computed as the sum
// of the kernel gradients of batch slices, each built as GoMLX builds it,
// and added in a balanced tree (see sumTree). Slices of about 2^18 floats
// (1 MiB) of input or output gradient, rounded to a power of two of images
// (see ImagesPerSlice), were at or near the fastest size at every mnist
// shape with either library (trying 1 to 32 images per slice on a 2-core
// Xeon with AVX-512); convolutions with 128x128 channels and more (cifar10)
// are sliced by output positions instead, about 1024 per slice, which was
// fastest with oneDNN (see widePerSlice). Kernel gradient alone, whole batch
// -> sliced (BenchmarkKernelGradient, YNNPACK): 28x28x32 at batch 64,
// 17 -> 7.6 ms (the forward convolution takes 4.7 ms); 28x28, 96 -> 32
// channels, 48 -> 25 ms; 14x14x64, 13 -> 6.6 ms; 32x32x128 at batch 128,
// 635 -> 222 ms; 16x16x256, 610 -> 228 ms; 8x8x256, 125 -> 52 ms; with
// oneDNN, 42 -> 11 ms, 96 -> 27-32 ms and 19 -> 8.5 ms at the same three
// mnist shapes.
// Where a whole batch is already that small (7x7x64 at batch 64) nothing
// changes. The price is compile time: every slice is a convolution of its
// own. The slicing applies only on the XLA CPU plugin: GPU convolution
// libraries handle the large contraction themselves, and the pure-Go
// backend has its own convolution.
//
// The kernel gradient of a 1x1 convolution at stride 1 without padding (the
// U-Net's skip connections between blocks of different widths) is one
// matrix multiply, on every backend: 23 -> 2.5 ms for mnist's 28x28, 96 -> 32
// channels at batch 64, against 3 ms for the forward convolution.
//
// The input gradient of a strided convolution is one plain convolution per
// phase of the input (see phaseInputGradient) on XLA CPU. Otherwise it is
// the transposed convolution GoMLX builds, with two differences (see
// inputGradient): its padding is right for kernels of even
// size (GoMLX v0.26.0's is one position off for 2x2, 4x4, ...), and where the
// backend has no reverse op (the pure-Go backend) the kernel is reversed
// with slices, so that the pure-Go backend can train. Grouped convolutions
// and input dilation keep GoMLX's rule.
//
// The gradient of an addition with broadcasting (a convolution's bias) is,
// on XLA CPU, a short reduction and a dot with ones rather than one long
// reduction (see sumgrad.go).
//
// Importing the package registers the rules for the whole process (GoMLX
// exposes graph.VJPRegistration for this purpose).
package convgrad

import (
	"math"
	"reflect"
	"slices"
	"strings"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Original is GoMLX's own VJP of ConvGeneral, still used for grouped
// convolutions and input dilation.
var Original = graph.VJPRegistration[graph.NodeTypeConvGeneral]

// SliceFloats is the target size, in floats, of each batch slice's input
// (or output gradient, whichever is larger).
const SliceFloats = 1 << 18

// sliceFloats is SliceFloats; tests lower it to slice small convolutions.
var sliceFloats = SliceFloats

// Enabled switches the XLA CPU formulations of the gradients (the slicing,
// thinKernelGradient, phaseInputGradient and the broadcast sums of Add's
// gradient) on (the default) or off, for comparisons.
var Enabled = true

func init() {
	graph.VJPRegistration[graph.NodeTypeConvGeneral] = vjp
}

// params are the arguments of a ConvGeneral node.
type params struct {
	axes                               backends.ConvolveAxesConfig
	strides                            []int
	paddings                           [][2]int
	inputDilations, kernelDilations    []int
	channelGroupCount, batchGroupCount int
}

// read copies the parameters of a ConvGeneral node. GoMLX keeps them in an
// unexported struct; they are read, never written.
func read(node *graph.Node) params {
	in := reflect.ValueOf(node).Elem().FieldByName("inputs").Elem().Elem()
	field := func(name string) any {
		f := in.FieldByName(name)
		return reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Interface()
	}
	return params{
		axes:              field("axes").(backends.ConvolveAxesConfig),
		strides:           field("strides").([]int),
		paddings:          field("paddings").([][2]int),
		inputDilations:    field("inputDilations").([]int),
		kernelDilations:   field("kernelDilations").([]int),
		channelGroupCount: field("channelGroupCount").(int),
		batchGroupCount:   field("batchGroupCount").(int),
	}
}

// onXLACPU tells whether the graph is compiled by XLA's CPU plugin.
func onXLACPU(b backends.Backend) bool {
	if b.Name() != "xla" {
		return false
	}
	plugin, _, _ := strings.Cut(b.Description(), " - ")
	return strings.Contains(strings.ToLower(plugin), "cpu")
}

// ImagesPerSlice is the number of batch entries per slice for a
// convolution whose input holds inFloats and whose output holds outFloats
// floats per batch entry: the power of two nearest (geometrically) to the
// number that fits in SliceFloats, at least one.
//
// In the kernel gradient's convolution the batch is the contracted channel
// axis, and YNNPACK runs it much slower when that axis is 3 or 5 long than
// when it is 2, 4 or 8. Kernel gradient of a 3x3 convolution, images per
// slice -> ms (BenchmarkKernelGradient): mnist's 28x28, 96 -> 32 channels
// at batch 64, 3 (the most that fit) -> 72, 2 -> 32, 4 -> 25, 8 -> 22, the
// whole batch -> 48; cifar10's 32x32, 128 -> 128 at batch 128, 2 -> 223,
// 4 -> 383; 16x16, 256 -> 256, 4 -> 221, 8 -> 350.
func ImagesPerSlice(inFloats, outFloats int) int {
	fit := float64(sliceFloats) / float64(max(inFloats, outFloats, 1))
	if !powersOfTwo {
		return max(1, int(fit))
	}
	return nearestPowerOfTwo(fit)
}

// nearestPowerOfTwo is the power of two nearest to f (geometrically), at
// least one.
func nearestPowerOfTwo(f float64) int { return 1 << int(max(0, math.Round(math.Log2(f)))) }

// WideChannels is the product of input and output channels from which a
// convolution's kernel gradient is sliced by output positions instead (see
// widePerSlice): cifar10's 128 channels and up.
const WideChannels = 128 * 128

// WidePositions is the number of output positions (images times H x W) per
// slice for wide convolutions.
const WidePositions = 1024

// widePerSlice is the number of images per slice of a wide convolution with
// the given output positions per image: the power of two nearest to
// WidePositions / positions, at least one. With XLA's oneDNN calls, kernel
// gradient alone at cifar10's shapes, batch 128 (BenchmarkKernelGradient),
// images per slice -> ms: 32x32, 128 -> 128 channels: 1 -> 240, 2 -> 304,
// 4 -> 381; 32x32, 256 -> 128: 1 -> 511, 2 -> 680; 16x16, 256 -> 256: 2 ->
// 454, 4 -> 328, 8 -> 372; 16x16, 512 -> 256: 2 -> 836, 4 -> 628, 8 -> 689;
// 8x8, 512 -> 256: 8 -> 142, 16 -> 125. The float-size rule of
// ImagesPerSlice picks 2, 1, 4, 2 and 8 there; at mnist's narrower shapes
// it stays at or near the best.
func widePerSlice(positions int) int {
	return nearestPowerOfTwo(float64(WidePositions) / float64(max(positions, 1)))
}

// powersOfTwo rounds ImagesPerSlice to a power of two; tests turn it off to
// slice small convolutions in slices of any size.
var powersOfTwo = true

// pointwise tells whether the convolution is a 1x1 kernel applied at every
// position (stride 1, no padding), a matrix multiply over the channels.
func pointwise(kernel *graph.Node, p params) bool {
	for _, axis := range p.axes.KernelSpatial {
		if kernel.Shape().Dimensions[axis] != 1 {
			return false
		}
	}
	for _, s := range p.strides {
		if s != 1 {
			return false
		}
	}
	for _, pad := range p.paddings {
		if pad != [2]int{0, 0} {
			return false
		}
	}
	return true
}

// pointwiseKernelGradient is the kernel gradient of a pointwise convolution:
// dk[c, o] = sum over the batch and positions of x[..., c] v[..., o], one
// matrix multiply. As a convolution (GoMLX's rule) XLA CPU took 23 ms for
// the mnist preset's 28x28, 96 -> 32 channels skip connection at batch 64
// (19 ms in batch slices); as a dot, 2.5 ms (BenchmarkKernelGradient).
func pointwiseKernelGradient(x, kernel, v *graph.Node, p params) *graph.Node {
	axes := p.axes
	var dk *graph.Node // [in channels, out channels]
	last := x.Rank() - 1
	if axes.InputChannels == last && axes.OutputChannels == last && axes.InputBatch == axes.OutputBatch &&
		slices.Equal(axes.InputSpatial, axes.OutputSpatial) {
		// Channels last, positions in the same order in x and v: a plain
		// matrix multiply of [positions, channels] matrices (XLA CPU ran the
		// 4-D contraction at half the speed).
		c, o := x.Shape().Dimensions[last], v.Shape().Dimensions[last]
		dk = graph.DotGeneral(graph.Reshape(x, -1, c), []int{0}, nil, graph.Reshape(v, -1, o), []int{0}, nil)
	} else {
		xAxes := append([]int{axes.InputBatch}, axes.InputSpatial...)
		vAxes := append([]int{axes.OutputBatch}, axes.OutputSpatial...)
		dk = graph.DotGeneral(x, xAxes, nil, v, vAxes, nil)
	}
	if axes.KernelInputChannels > axes.KernelOutputChannels {
		dk = graph.Transpose(dk, 0, 1)
	}
	return graph.Reshape(dk, kernel.Shape().Dimensions...)
}

func vjp(node *graph.Node, vjpOutputs []*graph.Node, outputShape shapes.Shape) []*graph.Node {
	p := read(node)
	if p.channelGroupCount > 1 || p.batchGroupCount > 1 || len(p.inputDilations) > 0 {
		return Original(node, vjpOutputs, outputShape)
	}
	x, kernel, v := node.Inputs()[0], node.Inputs()[1], vjpOutputs[0]
	cpu := Enabled && onXLACPU(node.Graph().Backend())
	var dx *graph.Node
	if cpu && strided(x, kernel, v, p) {
		dx = phaseInputGradient(x, kernel, v, p)
	} else {
		dx = inputGradient(x, kernel, v, p)
	}
	if pointwise(kernel, p) {
		return []*graph.Node{dx, pointwiseKernelGradient(x, kernel, v, p)}
	}
	if cpu && thin(x, kernel, v, p) {
		return []*graph.Node{dx, thinKernelGradient(x, kernel, v, p)}
	}
	n := x.Shape().Dimensions[p.axes.InputBatch]
	per := ImagesPerSlice(x.Shape().Size()/n, node.Shape().Size()/n)
	ci, co := x.Shape().Dimensions[p.axes.InputChannels], v.Shape().Dimensions[p.axes.OutputChannels]
	if ci*co >= WideChannels && powersOfTwo { // Tests that choose their own slice sizes turn powersOfTwo off.
		per = widePerSlice(node.Shape().Size() / n / co)
	}
	if !cpu || per >= n {
		return []*graph.Node{dx, kernelGradient(x, kernel, v, p)}
	}
	var parts []*graph.Node
	for start := 0; start < n; start += per {
		end := min(start+per, n)
		parts = append(parts, kernelGradient(sliceAxis(x, p.axes.InputBatch, start, end), kernel, sliceAxis(v, p.axes.OutputBatch, start, end), p))
	}
	return []*graph.Node{dx, sumTree(parts)}
}

// sumTree adds the nodes pairwise, in a balanced tree. XLA's oneDNN
// rewriter fuses an addition into the convolution that produces one of its
// operands, as a "post-op"; a chain of additions would give one convolution
// a post-op per slice, and oneDNN allows 32 (XLA aborts the process when it
// cannot append one: cifar10's 64 slices did). In a tree no convolution
// gets more than log2(len(nodes)).
func sumTree(nodes []*graph.Node) *graph.Node {
	for len(nodes) > 1 {
		next := nodes[:0:0]
		for i := 0; i+1 < len(nodes); i += 2 {
			next = append(next, graph.Add(nodes[i], nodes[i+1]))
		}
		if len(nodes)%2 == 1 {
			next = append(next, nodes[len(nodes)-1])
		}
		nodes = next
	}
	return nodes[0]
}

// ThinChannels is the most input or output channels for which thin applies.
const ThinChannels = 4

// channelsLast tells whether the convolution is 2-D in the layout
// [batch, H, W, C] with an [H, W, in, out] kernel.
func channelsLast(x *graph.Node, p params) bool {
	a := p.axes
	return x.Rank() == 4 && a.InputBatch == 0 && a.InputChannels == 3 && slices.Equal(a.InputSpatial, []int{1, 2}) &&
		a.OutputBatch == 0 && a.OutputChannels == 3 && slices.Equal(a.OutputSpatial, []int{1, 2}) &&
		a.KernelInputChannels == 2 && a.KernelOutputChannels == 3 && slices.Equal(a.KernelSpatial, []int{0, 1})
}

// strided tells whether the convolution is channels-last, strided along
// some axis and not dilated: the U-Net's downsampling convolutions.
func strided(x, kernel, v *graph.Node, p params) bool {
	if !channelsLast(x, p) {
		return false
	}
	some := false
	for i := range 2 {
		d := spatial(x, kernel, v, p, i)
		if d.dilation != 1 {
			return false
		}
		some = some || d.stride > 1
	}
	return some
}

// phaseInputGradient is the input gradient of a strided convolution as one
// stride-1 convolution per phase of the input, interleaved. Along one axis,
// with stride s, padding before p0 and kernel k, the input positions
// n = s i + a of phase a get dx[n] = sum over m of v[i + q - m] k[r + s m],
// for r = (a + p0) mod s and q = (a + p0 - r) / s: a correlation of v with
// the taps r, r+s, ... of the kernel, reversed. inputGradient's single
// convolution of v dilated by the stride (an input dilation) is one that
// XLA hands to no library on the CPU; each phase here is a plain
// convolution (with the settings of backend, oneDNN's). Input
// gradient alone, dilated -> phases (BenchmarkStrided): mnist's
// 28x28x32 at stride 2, batch 64, 8.6 -> 4.6 ms; 14x14x64, 4.6 -> 3.2 ms;
// cifar10's 32x32x128, batch 128, 165 -> 63 ms; 16x16x256, 102 -> 49 ms;
// 8x8x256, 22 -> 16 ms.
func phaseInputGradient(x, kernel, v *graph.Node, p params) *graph.Node {
	var d [2]dims
	for i := range 2 {
		d[i] = spatial(x, kernel, v, p, i)
	}
	n, ci := x.Shape().Dimensions[0], x.Shape().Dimensions[3]
	// Every phase is computed over L = ceil(I / s) positions and the
	// interleaved result cropped to I.
	var L [2]int
	for i := range 2 {
		L[i] = (d[i].in + d[i].stride - 1) / d[i].stride
	}
	rows := make([]*graph.Node, d[0].stride)
	for a := range d[0].stride {
		cols := make([]*graph.Node, d[1].stride)
		for b := range d[1].stride {
			phase := [2]int{a, b}
			sub := kernel
			pads := make([][2]int, 2)
			empty := false
			for i := range 2 {
				r := (phase[i] + d[i].padBefore) % d[i].stride
				q := (phase[i] + d[i].padBefore - r) / d[i].stride
				m := (d[i].kernel - r + d[i].stride - 1) / d[i].stride // taps r, r+s, ... below k
				if m <= 0 {
					empty = true
					break
				}
				specs := make([]graph.SliceAxisSpec, 4)
				for j := range specs {
					specs[j] = graph.AxisRange()
				}
				specs[i] = graph.AxisRange(r, r+d[i].stride*(m-1)+1).Stride(d[i].stride)
				sub = reverseAxis(graph.Slice(sub, specs...), i)
				// Output position i reads v[i + q - (m-1) + u], u < m.
				pads[i] = [2]int{m - 1 - q, L[i] - d[i].out - (m - 1 - q) + m - 1}
			}
			if empty {
				cols[b] = graph.Zeros(x.Graph(), shapes.Make(x.DType(), n, L[0], L[1], ci))
				continue
			}
			vp := padSpatial(v, [2]int{pads[0][0], pads[1][0]}, [2]int{pads[0][1], pads[1][1]})
			// Transposed after the reversals: see swapKernelChannels.
			sub = swapKernelChannels(sub, p.axes)
			cols[b] = graph.Convolve(vp, sub).AxesConfig(p.axes).NoPadding().Done() // [n, L0, L1, ci]
		}
		row := graph.Stack(cols, 3)                                 // [n, L0, L1, s1, ci]
		rows[a] = graph.Reshape(row, n, L[0], L[1]*d[1].stride, ci) // [n, L0, W', ci]
	}
	dx := graph.Reshape(graph.Stack(rows, 2), n, L[0]*d[0].stride, L[1]*d[1].stride, ci) // [n, L0, s0, W', ci]
	return graph.Slice(dx, graph.AxisRange(), graph.AxisRange(0, d[0].in), graph.AxisRange(0, d[1].in), graph.AxisRange())
}

// swapKernelChannels exchanges the kernel's input and output channel axes,
// so that the input gradient's convolution (v with the kernel's channels
// swapped) keeps the forward convolution's dimension labels. XLA on the CPU
// gives a convolution whose kernel labels are swapped (01oi) to oneDNN only
// in float32: in bfloat16 it converted each such input gradient to float32
// (35 of the mnist training step's 223 convolutions); with the kernel
// transposed here (a few KiB) every one of them stays in bfloat16, if the
// transposition is the last op on the kernel: a reversal there instead
// also left the convolution in float32.
func swapKernelChannels(kernel *graph.Node, axes backends.ConvolveAxesConfig) *graph.Node {
	perm := make([]int, kernel.Rank())
	for i := range perm {
		perm[i] = i
	}
	perm[axes.KernelInputChannels], perm[axes.KernelOutputChannels] = axes.KernelOutputChannels, axes.KernelInputChannels
	return graph.TransposeAllDims(kernel, perm...)
}

// padSpatial pads t [batch, H, W, C] with zeros: before[i] and after[i]
// positions along spatial axis i.
func padSpatial(t *graph.Node, before, after [2]int) *graph.Node {
	return graph.Pad(t, graph.ScalarZero(t.Graph(), t.DType()), backends.PadAxis{},
		backends.PadAxis{Start: before[0], End: after[0]}, backends.PadAxis{Start: before[1], End: after[1]}, backends.PadAxis{})
}

// thin tells whether the convolution has at most ThinChannels input or
// output channels and is a plain one (stride 1, no dilation) in the
// channels-last layout [batch, H, W, C] with an [H, W, in, out] kernel: the
// U-Net's first and last convolutions.
func thin(x, kernel, v *graph.Node, p params) bool {
	if !channelsLast(x, p) {
		return false
	}
	for i := range 2 {
		if d := spatial(x, kernel, v, p, i); d.stride != 1 || d.dilation != 1 {
			return false
		}
	}
	return min(x.Shape().Dimensions[3], v.Shape().Dimensions[3]) <= thinChannels
}

// thinChannels is ThinChannels; benchmarks set it to 0 to time the sliced
// convolutions instead.
var thinChannels = ThinChannels

// thinKernelGradient is the kernel gradient of a thin convolution as one
// matrix multiply of image patches taken on its thin side:
// dk[i, j, c, o] = sum over n, h, w of xp[n, h+i, w+j, c] v[n, h, w, o], for
// x padded as the convolution pads it (xp). With few input channels the
// patches are those of xp, [n h w, (i j c)], multiplied by v as
// [n h w, o]; with few output channels they are those of v, padded by k-1
// on each side (vp), at the positions of xp:
// dk[i, j, c, o] = sum over n, y, z of xp[n, y, z, c] vp[n, y-i+k-1, z-j+k-1, o].
// The patches hold k·k times the thin side's channels. As sliced
// convolutions these took, with XLA's oneDNN calls (BenchmarkKernelGradient,
// best slicing -> patches): mnist's 28x28, batch 64, 1 -> 32 channels,
// 3.3 -> 1.4 ms, 32 -> 1, 7.9 -> 2.4 ms; cifar10's 32x32, batch 128,
// 3 -> 128, 34 -> 20 ms, 128 -> 3, 104 -> 24 ms.
func thinKernelGradient(x, kernel, v *graph.Node, p params) *graph.Node {
	kh, kw := kernel.Shape().Dimensions[0], kernel.Shape().Dimensions[1]
	ci, co := x.Shape().Dimensions[3], v.Shape().Dimensions[3]
	oh, ow := v.Shape().Dimensions[1], v.Shape().Dimensions[2]
	var before, after [2]int
	for i := range 2 {
		d := spatial(x, kernel, v, p, i)
		before[i] = d.padBefore
		after[i] = d.out + d.kernel - 1 - d.in - d.padBefore // xp is out+k-1 long.
	}
	xp := padSpatial(x, before, after) // [n, oh+kh-1, ow+kw-1, ci]
	window := func(t *graph.Node, i, j, h, w int) *graph.Node {
		return graph.Slice(t, graph.AxisRange(), graph.AxisRange(i, i+h), graph.AxisRange(j, j+w), graph.AxisRange())
	}
	var taps []*graph.Node
	if ci <= co {
		for i := range kh {
			for j := range kw {
				taps = append(taps, window(xp, i, j, oh, ow))
			}
		}
		patches := graph.Reshape(graph.Concatenate(taps, 3), -1, kh*kw*ci)
		dk := graph.DotGeneral(patches, []int{0}, nil, graph.Reshape(v, -1, co), []int{0}, nil)
		return graph.Reshape(dk, kh, kw, ci, co)
	}
	ph, pw := oh+kh-1, ow+kw-1
	vp := padSpatial(v, [2]int{kh - 1, kw - 1}, [2]int{kh - 1, kw - 1})
	for i := range kh {
		for j := range kw {
			taps = append(taps, window(vp, kh-1-i, kw-1-j, ph, pw))
		}
	}
	patches := graph.Reshape(graph.Concatenate(taps, 3), -1, kh*kw*co)
	dk := graph.DotGeneral(graph.Reshape(xp, -1, ci), []int{0}, nil, patches, []int{0}, nil) // [ci, (i j o)]
	return graph.TransposeAllDims(graph.Reshape(dk, ci, kh, kw, co), 1, 2, 0, 3)
}

// dims are the sizes, per spatial axis, that both gradients need.
type dims struct{ in, out, kernel, dilatedKernel, stride, dilation, padBefore int }

func spatial(x, kernel, v *graph.Node, p params, i int) dims {
	d := dims{
		in:     x.Shape().Dimensions[p.axes.InputSpatial[i]],
		out:    v.Shape().Dimensions[p.axes.OutputSpatial[i]],
		kernel: kernel.Shape().Dimensions[p.axes.KernelSpatial[i]],
		stride: 1, dilation: 1,
	}
	if len(p.strides) > 0 {
		d.stride = p.strides[i]
	}
	if len(p.kernelDilations) > 0 {
		d.dilation = p.kernelDilations[i]
	}
	if len(p.paddings) > 0 {
		d.padBefore = p.paddings[i][0]
	}
	d.dilatedKernel = (d.kernel-1)*d.dilation + 1
	return d
}

// inputGradient is the gradient of a convolution (no channel or batch
// grouping, no input dilation, input and output in the same layout) with
// respect to its input x, given the output gradient v: v dilated by the
// strides, correlated with the kernel reversed in space with its channel
// axes swapped, padded by k-1-p0 before and by I - ((O-1)s+1) + p0 after
// along each spatial axis, for an input of size I, an output of size O, a
// dilated kernel of size k, stride s and padding (p0, p1).
//
// GoMLX v0.26.0 builds the same convolution with paddings centred on the
// kernel, which puts even-sized kernels one position off (its gradient of a
// 2x2 kernel's input does not match finite differences), and reverses the
// kernel with an op the pure-Go backend lacks (see reverseAxis).
func inputGradient(x, kernel, v *graph.Node, p params) *graph.Node {
	axes := p.axes
	rev := kernel
	for _, axis := range axes.KernelSpatial {
		rev = reverseAxis(rev, axis)
	}
	rev = swapKernelChannels(rev, axes)
	n := len(axes.InputSpatial)
	pads := make([][2]int, n)
	ones, inDilations, dilations := make([]int, n), make([]int, n), make([]int, n)
	for i := range pads {
		d := spatial(x, kernel, v, p, i)
		pads[i] = [2]int{d.dilatedKernel - 1 - d.padBefore, d.in - ((d.out-1)*d.stride + 1) + d.padBefore}
		ones[i], inDilations[i], dilations[i] = 1, d.stride, d.dilation
	}
	return graph.Convolve(v, rev).AxesConfig(axes).PaddingPerDim(pads).StridePerAxis(ones...).
		DilationPerAxis(dilations...).InputDilationPerAxis(inDilations...).Done()
}

// kernelGradient is the gradient of the same convolutions with respect to
// the kernel, as GoMLX v0.26.0 builds it: x convolved with v as the kernel,
// the batch contracted (x's batch axis as the input channels, v's as the
// kernel's input channels) and x's channels kept apart (as the batch), the
// strides as the kernel dilation and the kernel dilation as the strides, so
// that the output is kernel-shaped: dk[i, c, o] = sum over n and output
// positions h of x[n, s h + d i - p0, c] v[n, h, o] (one spatial axis
// shown). The padding after is what makes the output the kernel's size.
func kernelGradient(x, kernel, v *graph.Node, p params) *graph.Node {
	axes := p.axes
	var rev backends.ConvolveAxesConfig
	rev.InputBatch, rev.InputChannels, rev.InputSpatial = axes.InputChannels, axes.InputBatch, axes.InputSpatial
	rev.OutputBatch, rev.OutputChannels, rev.OutputSpatial = axes.KernelInputChannels, axes.KernelOutputChannels, axes.KernelSpatial
	rev.KernelInputChannels, rev.KernelOutputChannels, rev.KernelSpatial = axes.OutputBatch, axes.OutputChannels, axes.OutputSpatial
	n := len(axes.InputSpatial)
	pads := make([][2]int, n)
	strides, dilations := make([]int, n), make([]int, n)
	for i := range pads {
		d := spatial(x, kernel, v, p, i)
		pads[i] = [2]int{d.padBefore, (d.kernel-1)*d.dilation + (d.out-1)*d.stride + 1 - d.in - d.padBefore}
		strides[i], dilations[i] = d.dilation, d.stride
	}
	return graph.Convolve(x, v).AxesConfig(rev).PaddingPerDim(pads).StridePerAxis(strides...).DilationPerAxis(dilations...).Done()
}

// reverseAxis reverses x along axis: with the backend's reverse op, or with
// slices where it lacks one (the pure-Go backend of GoMLX v0.26.0).
func reverseAxis(x *graph.Node, axis int) *graph.Node {
	n := x.Shape().Dimensions[axis]
	if n == 1 {
		return x
	}
	if x.Graph().Backend().Capabilities().Operations[backends.OpTypeReverse] {
		return graph.Reverse(x, axis)
	}
	parts := make([]*graph.Node, n)
	for i := range n {
		parts[n-1-i] = sliceAxis(x, axis, i, i+1)
	}
	return graph.Concatenate(parts, axis)
}

// sliceAxis returns x[..., start:end, ...] along one axis.
func sliceAxis(x *graph.Node, axis, start, end int) *graph.Node {
	specs := make([]graph.SliceAxisSpec, x.Rank())
	for i := range specs {
		specs[i] = graph.AxisRange()
	}
	specs[axis] = graph.AxisRange(start, end)
	return graph.Slice(x, specs...)
}
