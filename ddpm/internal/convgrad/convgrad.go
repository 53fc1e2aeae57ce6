// Package convgrad computes the kernel gradient of a convolution on XLA CPU
// in batch slices that fit in the cache, and the input gradient of
// even-sized kernels correctly.
//
// GoMLX builds the kernel gradient of a convolution as one more convolution:
// the input, with batch and channels swapped, convolved with the output
// gradient as a "kernel" as large as the image (28x28 for the mnist
// preset's first stage), producing the 3x3 kernel gradient. The XLA CPU
// plugin runs convolutions through the YNNPACK library, which then contracts
// over H x W x batch at once: for the mnist preset's first stage (batch 64,
// 28x28, 32 channels) that took 20 ms against 5 ms for the forward
// convolution.
//
// The kernel gradient is a sum over the batch, so it can be computed as the
// sum of the kernel gradients of batch slices, each by GoMLX's own rule.
// Slices of about 2^18 floats (1 MiB) of input or output gradient were at or
// near the fastest size at every shape of the mnist and cifar10 presets
// (trying 1 to 32 images per slice on a 2-core Xeon with AVX-512). Kernel
// gradient alone, whole batch -> sliced (BenchmarkKernelGradient):
// 28x28x32 at batch 64, 20 -> 8.9 ms (the forward convolution takes 5 ms);
// 14x14x64, 14 -> 6.0 ms; 32x32x128 at batch 128, 635 -> 222 ms; 16x16x256,
// 610 -> 228 ms; 8x8x256, 125 -> 52 ms. Where a whole batch is already that
// small (7x7x64 at batch 64) nothing changes. The price is compile time:
// every slice is a convolution of its own.
//
// The input gradient is GoMLX's, unchanged. The slicing applies only on the
// XLA CPU plugin: GPU convolution libraries handle the large contraction
// themselves, and the pure-Go backend has its own convolution.
//
// The rule also corrects GoMLX v0.26.0's input gradient for kernels of even
// size (2x2, 4x4, ...; see inputGradient), on every backend: GoMLX centres
// the padding of the transposed convolution on the kernel, which is one
// position off for even sizes.
//
// Importing the package registers the rule for the whole process (GoMLX
// exposes graph.VJPRegistration for this purpose).
package convgrad

import (
	"reflect"
	"strings"
	"unsafe"

	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Original is GoMLX's own VJP of ConvGeneral, used for the input gradient
// and for each slice's kernel gradient.
var Original = graph.VJPRegistration[graph.NodeTypeConvGeneral]

// SliceFloats is the target size, in floats, of each batch slice's input
// (or output gradient, whichever is larger).
const SliceFloats = 1 << 18

// sliceFloats is SliceFloats; tests lower it to slice small convolutions.
var sliceFloats = SliceFloats

// Enabled switches the slicing on (the default) or off, for comparisons.
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
// floats per batch entry: as many as fit in SliceFloats, at least one.
func ImagesPerSlice(inFloats, outFloats int) int {
	return max(1, sliceFloats/max(inFloats, outFloats, 1))
}

func vjp(node *graph.Node, vjpOutputs []*graph.Node, outputShape shapes.Shape) []*graph.Node {
	p := read(node)
	if p.channelGroupCount > 1 || p.batchGroupCount > 1 || len(p.inputDilations) > 0 {
		return Original(node, vjpOutputs, outputShape)
	}
	x, kernel, v := node.Inputs()[0], node.Inputs()[1], vjpOutputs[0]
	if !evenKernel(kernel, p) {
		grads := Original(node, vjpOutputs, outputShape)
		if dk := slicedKernelGradient(node, x, kernel, v, p); dk != nil {
			grads[1] = dk // GoMLX's kernel gradient is then unused, and dropped by XLA.
		}
		return grads
	}
	// Even-sized kernels: GoMLX's input gradient is off by one position
	// (see inputGradient), and GoMLX panics building it for some paddings,
	// so its rule is used only for the kernel gradient of the same
	// convolution with the padding made explicit.
	dx := inputGradient(x, kernel, v, p)
	if nonzero(p.paddings) {
		x = padSpatial(x, p)
		p.paddings = nil
		node = graph.ConvGeneral(x, kernel, p.axes, p.strides, nil, nil, p.kernelDilations, 1, 1)
	}
	dk := slicedKernelGradient(node, x, kernel, v, p)
	if dk == nil {
		dk = Original(node, []*graph.Node{v}, node.Shape())[1]
	}
	return []*graph.Node{dx, dk}
}

// slicedKernelGradient is the kernel gradient of node = conv(x, kernel) as
// the sum of GoMLX's kernel gradients of batch slices, or nil where that
// does not apply (not XLA CPU, switched off, or a batch within one slice).
func slicedKernelGradient(node, x, kernel, v *graph.Node, p params) *graph.Node {
	if !Enabled || !onXLACPU(node.Graph().Backend()) {
		return nil
	}
	n := x.Shape().Dimensions[p.axes.InputBatch]
	per := ImagesPerSlice(x.Shape().Size()/n, node.Shape().Size()/n)
	if per >= n {
		return nil
	}
	var dk *graph.Node
	for start := 0; start < n; start += per {
		end := min(start+per, n)
		xs := sliceAxis(x, p.axes.InputBatch, start, end)
		vs := sliceAxis(v, p.axes.OutputBatch, start, end)
		ys := graph.ConvGeneral(xs, kernel, p.axes, p.strides, p.paddings, nil, p.kernelDilations, 1, 1)
		g := Original(ys, []*graph.Node{vs}, ys.Shape())[1] // The slice's input gradient is never used.
		if dk == nil {
			dk = g
		} else {
			dk = graph.Add(dk, g)
		}
	}
	return dk
}

func nonzero(paddings [][2]int) bool {
	for _, p := range paddings {
		if p != [2]int{} {
			return true
		}
	}
	return false
}

// padSpatial pads x with the convolution's zero padding.
func padSpatial(x *graph.Node, p params) *graph.Node {
	axes := make([]backends.PadAxis, x.Rank())
	for i, axis := range p.axes.InputSpatial {
		axes[axis] = backends.PadAxis{Start: p.paddings[i][0], End: p.paddings[i][1]}
	}
	return graph.Pad(x, graph.ScalarZero(x.Graph(), x.DType()), axes...)
}

// evenKernel tells whether the kernel, dilated, is even-sized along a
// spatial axis.
func evenKernel(kernel *graph.Node, p params) bool {
	for i, axis := range p.axes.KernelSpatial {
		k := kernel.Shape().Dimensions[axis]
		if len(p.kernelDilations) > 0 {
			k = (k-1)*p.kernelDilations[i] + 1
		}
		if k%2 == 0 {
			return true
		}
	}
	return false
}

// inputGradient is the gradient of a convolution (no channel or batch
// grouping, no input dilation, input and output in the same layout) with
// respect to its input x, given the output gradient v: v dilated by the
// strides, correlated with the kernel reversed in space with its channel
// axes swapped, padded by k-1-p0 before and by I - ((O-1)s+1) + p0 after
// along each spatial axis, for an input of size I, an output of size O, a
// dilated kernel of size k, stride s and padding (p0, p1).
//
// GoMLX v0.26.0 builds this with paddings centred on the kernel, which
// puts even-sized kernels one position off (its gradient of a 2x2 kernel's
// input does not match finite differences); the vjp above uses this one
// for even-sized kernels and GoMLX's otherwise.
func inputGradient(x, kernel, v *graph.Node, p params) *graph.Node {
	axes := p.axes
	rev := graph.Reverse(kernel, axes.KernelSpatial...)
	revAxes := axes
	revAxes.KernelInputChannels, revAxes.KernelOutputChannels = axes.KernelOutputChannels, axes.KernelInputChannels
	pads := make([][2]int, len(axes.InputSpatial))
	for i := range pads {
		in := x.Shape().Dimensions[axes.InputSpatial[i]]
		out := v.Shape().Dimensions[axes.OutputSpatial[i]]
		k := kernel.Shape().Dimensions[axes.KernelSpatial[i]]
		if len(p.kernelDilations) > 0 {
			k = (k-1)*p.kernelDilations[i] + 1
		}
		s := 1
		if len(p.strides) > 0 {
			s = p.strides[i]
		}
		var p0 int
		if len(p.paddings) > 0 {
			p0 = p.paddings[i][0]
		}
		pads[i] = [2]int{k - 1 - p0, in - ((out-1)*s + 1) + p0}
	}
	c := graph.Convolve(v, rev).AxesConfig(revAxes).PaddingPerDim(pads)
	if len(p.kernelDilations) > 0 {
		c = c.DilationPerAxis(p.kernelDilations...)
	}
	if len(p.strides) > 0 {
		c = c.InputDilationPerAxis(p.strides...)
	}
	return c.Done()
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
