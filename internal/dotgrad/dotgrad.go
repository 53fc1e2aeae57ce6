// Package dotgrad replaces GoMLX's gradient of DotGeneral (behind Dot,
// Einsum and Dense) with one made of two DotGenerals.
//
// GoMLX v0.26.0 builds that gradient as a broadcast multiply followed by a
// sum, which materialises a tensor of size batch x M x N x K: for the
// attention of the paper's CIFAR-10 U-Net at 16x16 (batch 128, 256
// positions, 256 channels) that is 2^31 floats, 8 GiB, for one einsum. The
// replacement is the textbook form: dA = v . B^T and dB = A^T . v,
// contracted over the other operand's free axes, so each costs one matrix
// multiply and no intermediate larger than its result.
//
// Importing the package registers the replacement for the whole process
// (GoMLX exposes graph.VJPRegistration for this purpose).
package dotgrad

import (
	"reflect"
	"slices"

	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
)

// Original is GoMLX's own VJP of DotGeneral, kept for comparison in tests.
var Original = graph.VJPRegistration[graph.NodeTypeDotGeneral]

func init() {
	graph.VJPRegistration[graph.NodeTypeDotGeneral] = vjp
}

// axes reads the contracting and batch axes of a DotGeneral node. GoMLX
// keeps them in an unexported struct; reflection reads them without
// changing anything.
func axes(node *graph.Node) (lc, lb, rc, rb []int) {
	in := reflect.ValueOf(node).Elem().FieldByName("inputs").Elem().Elem()
	ints := func(name string) []int {
		f := in.FieldByName(name)
		out := make([]int, f.Len())
		for i := range out {
			out[i] = int(f.Index(i).Int())
		}
		return out
	}
	return ints("lhsContractingAxes"), ints("lhsBatchAxes"), ints("rhsContractingAxes"), ints("rhsBatchAxes")
}

// cross returns the axes of a rank-r operand that are neither contracted nor batch, in order.
func cross(rank int, contracting, batch []int) []int {
	var out []int
	for a := range rank {
		if !slices.Contains(contracting, a) && !slices.Contains(batch, a) {
			out = append(out, a)
		}
	}
	return out
}

func seq(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

// grad computes the gradient for "this" operand of out = DotGeneral(lhs, rhs),
// whose output axes are [batch, lhs cross, rhs cross]. vFree are the axes of
// v that belong to the other operand; the result of DotGeneral(v, other) has
// axes [batch, this cross, other's contracting axes in increasing order],
// which are transposed back to this operand's layout.
func grad(v, other *graph.Node, vFree []int, otherCross, otherBatch, otherContracting []int,
	thisRank int, thisBatch, thisCross, thisContracting []int) *graph.Node {
	nb := len(thisBatch)
	d := graph.DotGeneral(v, vFree, seq(0, nb), other, otherCross, otherBatch)
	// Source axis in d for each axis of "this".
	perm := make([]int, thisRank)
	for i, a := range thisBatch {
		perm[a] = i
	}
	for j, a := range thisCross {
		perm[a] = nb + j
	}
	sorted := slices.Clone(otherContracting)
	slices.Sort(sorted)
	for pos, r := range sorted {
		k := slices.Index(otherContracting, r)
		perm[thisContracting[k]] = nb + len(thisCross) + pos
	}
	identity := true
	for i, p := range perm {
		identity = identity && i == p
	}
	if identity {
		return d
	}
	return graph.TransposeAllAxes(d, perm...)
}

func vjp(node *graph.Node, vjpOutputs []*graph.Node, _ shapes.Shape) []*graph.Node {
	v := vjpOutputs[0]
	lhs, rhs := node.Inputs()[0], node.Inputs()[1]
	lc, lb, rc, rb := axes(node)
	lx, rx := cross(lhs.Rank(), lc, lb), cross(rhs.Rank(), rc, rb)
	nb := len(lb)
	dl := grad(v, rhs, seq(nb+len(lx), len(rx)), rx, rb, rc, lhs.Rank(), lb, lx, lc)
	dr := grad(v, lhs, seq(nb, len(lx)), lx, lb, lc, rhs.Rank(), rb, rx, rc)
	return []*graph.Node{dl, dr}
}
