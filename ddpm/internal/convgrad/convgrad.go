// Package convgrad computes the kernel gradient of a convolution on XLA CPU
// in batch slices that fit in the cache.
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
	grads := Original(node, vjpOutputs, outputShape)
	if !Enabled || !onXLACPU(node.Graph().Backend()) {
		return grads
	}
	p := read(node)
	if p.channelGroupCount > 1 || p.batchGroupCount > 1 || len(p.inputDilations) > 0 {
		return grads
	}
	x, kernel, v := node.Inputs()[0], node.Inputs()[1], vjpOutputs[0]
	n := x.Shape().Dimensions[p.axes.InputBatch]
	per := ImagesPerSlice(x.Shape().Size()/n, node.Shape().Size()/n)
	if per >= n {
		return grads
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
	return []*graph.Node{grads[0], dk}
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
