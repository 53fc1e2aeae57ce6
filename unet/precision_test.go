package unet

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// tinyModel returns the tiny preset's model.
func tinyModel(t *testing.T) *Model {
	t.Helper()
	cfg, err := Preset("tiny")
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMixedPrecision: with ParamCompute set to bfloat16 the network's output
// stays float32 and moves from the float32 output by the rounding of the
// products' operands and results: bfloat16 keeps 8 significant bits (a
// relative rounding error of at most 2^-8), so across the tiny preset's
// dozen layers the output's RMS difference must be small (under 5% of its
// RMS) but not zero.
func TestMixedPrecision(t *testing.T) {
	m := tinyModel(t)
	b := backend.MustNew()
	ctx := context.New()
	rng := rand.New(rand.NewPCG(3, 4))
	const B = 4
	x := make([]float32, B*8*8)
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	xt := tensors.FromFlatDataAndDimensions(x, B, 8, 8, 1)
	ts := tensors.FromValue([]int32{0, 250, 500, 999})
	forward := func() []float32 {
		out, err := context.ExecOnce(b, ctx, func(ctx *context.Context, xt, t *graph.Node) *graph.Node {
			return m.Denoise(ctx, xt, t)
		}, xt, ts)
		if err != nil {
			t.Fatal(err)
		}
		if out.DType() != dtypes.Float32 {
			t.Fatalf("output dtype %s, want float32", out.DType())
		}
		return tensors.MustCopyFlatData[float32](out)
	}
	forward() // Creates the variables; then every weight random, the zero-initialised ones too.
	ctx = ctx.Reuse()
	for v := range ctx.IterVariables() {
		w := make([]float32, v.Shape().Size())
		for i := range w {
			w[i] = float32(0.3 * rng.NormFloat64())
		}
		v.MustSetValue(tensors.FromFlatDataAndDimensions(w, v.Shape().Dimensions...))
	}
	full := forward()
	rms := func(out []float32) float64 {
		var d2, f2 float64
		for i := range full {
			d := float64(out[i] - full[i])
			d2 += d * d
			f2 += float64(full[i]) * float64(full[i])
		}
		return math.Sqrt(d2 / f2)
	}
	ctx.SetParam(ParamCompute, dtypes.BFloat16)
	products := rms(forward())
	ctx.SetParam(ParamActivations, dtypes.BFloat16)
	activations := rms(forward())
	t.Logf("output RMS difference from float32: %.3g with bfloat16 products, %.3g with bfloat16 activations too", products, activations)
	if !(products < 0.05) || products == 0 {
		t.Errorf("bfloat16 products moved the output by %.3g of its RMS: want more than 0 and less than 0.05", products)
	}
	// The activations add one rounding of each layer's result, of the same
	// size as the products' own.
	if !(activations < 0.05) || activations == products {
		t.Errorf("bfloat16 activations moved the output by %.3g of its RMS (products alone %.3g): want less than 0.05, and a change", activations, products)
	}
}

// TestActivationsNeedFloat32: bfloat16 activations in a float64 network
// would round its float64 weights' results to bfloat16 and back to float32;
// Denoise refuses, naming the dtypes.
func TestActivationsNeedFloat32(t *testing.T) {
	m := tinyModel(t)
	ctx := context.New()
	ctx.SetParam(ParamActivations, dtypes.BFloat16)
	xt := tensors.FromShape(shapes.Make(dtypes.Float64, 1, 8, 8, 1))
	_, err := context.ExecOnce(backend.MustNew(), ctx, func(ctx *context.Context, xt, t *graph.Node) *graph.Node {
		return m.Denoise(ctx, xt, t)
	}, xt, tensors.FromValue([]int32{3}))
	if msg := strings.ToLower(fmt.Sprint(err)); err == nil || !strings.Contains(msg, "need a float32 network") || !strings.Contains(msg, "float64") {
		t.Errorf("float64 network with bfloat16 activations: %v", err)
	}
}
