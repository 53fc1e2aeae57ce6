package convgrad

import (
	"fmt"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// The gradient of an addition with broadcasting, such as a convolution's
// bias added at every position ([B, H, W, C] + [1, 1, 1, C]), is the
// output gradient summed over the broadcast axes. GoMLX builds that as one
// reduction; XLA CPU rewrites a reduction of more than 32 numbers into a
// windowed reduction of the whole operand followed by a second reduction,
// and the windowed one, striding over the batch and positions of a
// channels-last tensor, is slow: the bias gradients of the mnist preset's
// U-Net took about a tenth of its training step (scripts/bench/profile.sh).
//
// On XLA CPU, where the broadcast axes are contiguous and sum more than 32
// numbers, the sum is taken instead as a reduction over the last broadcast
// axis when it is at most 32 long (which XLA leaves alone and fuses with the
// expression that produces the gradient), and a dot with a row of ones over
// the rest, as sumPositions in unet does for GroupNorm's statistics.
// The same rule for subtractions and products (GroupNorm's centring and
// scaling of the flattened positions) made the mnist training step slower
// (0.48 -> 0.51 s), so it is the addition's alone.

// OriginalAdd is GoMLX's own VJP of Add.
var OriginalAdd = graph.VJPRegistration[graph.NodeTypeAdd]

func init() {
	graph.VJPRegistration[graph.NodeTypeAdd] = addVJP
}

// addVJP takes the sums with SumBroadcast when every broadcast input is of
// the form it handles and sums more than 32 numbers (XLA CPU leaves shorter
// reductions as they are), and is GoMLX's rule otherwise.
func addVJP(node *graph.Node, vjpOutputs []*graph.Node, outputShape shapes.Shape) []*graph.Node {
	if !Enabled || !onXLACPU(node.Graph().Backend()) {
		return OriginalAdd(node, vjpOutputs, outputShape)
	}
	inputs, out, v := node.Inputs(), node.Shape(), vjpOutputs[0]
	broadcast := false
	for _, in := range inputs {
		if in.Shape().Equal(out) {
			continue
		}
		if _, _, summed, ok := summedAxes(in.Shape(), out); !ok || summed <= 32 {
			return OriginalAdd(node, vjpOutputs, outputShape)
		}
		broadcast = true
	}
	if !broadcast {
		return OriginalAdd(node, vjpOutputs, outputShape)
	}
	grads := make([]*graph.Node, len(inputs))
	for i, in := range inputs {
		grads[i] = v
		if !in.Shape().Equal(out) {
			grads[i] = SumBroadcast(v, in.Shape())
		}
	}
	return grads
}

// summedAxes tells whether a tensor of shape to, broadcast to shape out,
// is of the form SumBroadcast handles: same rank and dtype, the broadcast
// axes (1 in to, more in out) contiguous and at least one. It returns the
// axes' range [first, last] and the number of numbers each sum adds.
func summedAxes(to, out shapes.Shape) (first, last, summed int, ok bool) {
	if to.Rank() != out.Rank() || to.DType != out.DType {
		return 0, 0, 0, false
	}
	first, last, summed = -1, -1, 1
	for i, d := range to.Dimensions {
		switch {
		case d == out.Dimensions[i]:
			continue
		case d != 1:
			return 0, 0, 0, false
		case first < 0:
			first = i
		case last != i-1:
			return 0, 0, 0, false // Not contiguous.
		}
		last = i
		summed *= out.Dimensions[i]
	}
	return first, last, summed, first >= 0
}

// SumBroadcast sums v over the axes where to is 1 and v is not, which must
// be contiguous (to is v's shape with a run of axes set to 1), and returns
// the sum with to's shape: a reduction over the last of those axes when it
// is at most 32 long, then a dot with a row of ones over the rest, batched
// over the axes before them. unet sums GroupNorm's statistics over
// the positions of each image with it (its sumPositions).
func SumBroadcast(v *graph.Node, to shapes.Shape) *graph.Node {
	dims := v.Shape().Dimensions
	first, last, summed, ok := summedAxes(to, v.Shape())
	if !ok {
		panic(fmt.Sprintf("convgrad.SumBroadcast: %s is not %s with a run of axes set to 1", to, v.Shape()))
	}
	outer, inner := 1, 1
	for _, d := range dims[:first] {
		outer *= d
	}
	for _, d := range dims[last+1:] {
		inner *= d
	}
	rows := graph.Reshape(v, outer, summed, inner)
	if w := dims[last]; w <= 32 && w < summed {
		rows = graph.ReduceSum(graph.Reshape(v, outer, summed/w, w, inner), 2)
	}
	n := rows.Shape().Dimensions[1]
	ones := graph.BroadcastToDims(graph.Ones(v.Graph(), shapes.Make(v.DType(), 1, 1, n)), outer, 1, n)
	sum := graph.DotGeneral(ones, []int{2}, []int{0}, rows, []int{1}, []int{0})
	return graph.Reshape(sum, to.Dimensions...)
}
