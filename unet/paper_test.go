package unet

import (
	"bufio"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
	. "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// layerSig is one layer as both lists describe it: its role (the last part of
// its scope without numbering: conv1, temb_proj, q, downsample, ...), whether
// it sits in an attention block, and its variables' classes and shapes.
type layerSig struct {
	role string
	attn bool
	vars string
}

var numbering = regexp.MustCompile(`_\d+$`)

// signatures groups (scope/name, shape) pairs by layer, in order.
func signatures(vars [][2]string, class map[string]string) []layerSig {
	var out []layerSig
	var scopes []string
	group := map[string][]string{}
	for _, v := range vars {
		i := strings.LastIndex(v[0], "/")
		scope, name := v[0][:i], v[0][i+1:]
		if _, ok := group[scope]; !ok {
			scopes = append(scopes, scope)
		}
		// A 1x1 convolution's kernel is the official nin's [in, out] matrix.
		group[scope] = append(group[scope], class[name]+":"+strings.TrimPrefix(v[1], "1x1x"))
	}
	for _, scope := range scopes {
		parts := strings.Split(scope, "/")
		role := numbering.ReplaceAllString(parts[len(parts)-1], "")
		if role == "conv" { // The official resampling convolutions are .../downsample/conv.
			role = numbering.ReplaceAllString(parts[len(parts)-2], "")
		}
		role = strings.TrimPrefix(strings.TrimPrefix(role, "temb_"), "down_")
		role = strings.TrimPrefix(role, "up_")
		vs := group[scope]
		slices.Sort(vs)
		out = append(out, layerSig{role: role, attn: strings.Contains(scope, "attn"), vars: strings.Join(vs, " ")})
	}
	return out
}

// TestCIFAR10MatchesOfficialModel: the cifar10 preset creates the same
// layers, in the same order, with variables of the same kinds and shapes as
// the official TensorFlow model, whose list (testdata/official_cifar10_variables.txt)
// is generated from the official code by testdata/official_variables.py;
// a 1x1 convolution here stands for the official nin layer, a dense layer
// over channels, with the same [in, out] weights.
// Its 35,746,307 parameters are the count the paper rounds to 35.7M.
func TestCIFAR10MatchesOfficialModel(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "official_cifar10_variables.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var official [][2]string
	total := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, shape, _ := strings.Cut(sc.Text(), " ")
		official = append(official, [2]string{strings.Replace(name, "temb/dense", "temb_dense", 1), shape})
		n := 1
		for _, d := range strings.Split(shape, "x") {
			var k int
			fmt.Sscan(d, &k)
			n *= k
		}
		total += n
	}
	if total != 35746307 {
		t.Fatalf("the official list holds %d parameters, want 35,746,307", total)
	}
	c, _ := Preset("cifar10")
	ours := variables(t, c)
	want := signatures(official, map[string]string{"W": "W", "b": "b", "gamma": "gamma", "beta": "beta"})
	got := signatures(ours, map[string]string{"weights": "W", "biases": "b", "gamma": "gamma", "beta": "beta"})
	if len(got) != len(want) {
		t.Fatalf("%d layers, the official model has %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("layer %d: %+v, the official model has %+v", i, got[i], want[i])
		}
	}
	m, _ := New(c)
	if n, err := m.NumParameters(backend.MustNew()); err != nil || n != total {
		t.Errorf("NumParameters = %d (%v), want %d", n, err, total)
	}
}

// variables builds the network for c and returns its variables in creation
// order as (scope/name, dims joined by "x").
func variables(t *testing.T, c Config) [][2]string {
	t.Helper()
	m, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	g := NewGraph(backend.MustNew(), "vars")
	defer g.Finalize()
	ctx := context.New()
	m.Denoise(ctx, Parameter(g, "x", shapes.Make(dtypes.Float32, 1, c.ImageSize, c.ImageSize, c.InChannels)),
		Parameter(g, "t", shapes.Make(dtypes.Int32, 1)))
	var out [][2]string
	for v := range ctx.IterVariables() {
		dims := make([]string, v.Shape().Rank())
		for i, d := range v.Shape().Dimensions {
			dims[i] = fmt.Sprint(d)
		}
		out = append(out, [2]string{v.Scope() + "/" + v.Name(), strings.Join(dims, "x")})
	}
	return out
}

// TestParameterCounts: each preset's exact count, from the paper's layer
// formulas written out here (conv k*k*in*out + out, dense in*out + out,
// GroupNorm 2C; a ResNet block with its time projection and 1x1 shortcut;
// an attention block of 4 CxC projections), walking the official structure.
func TestParameterCounts(t *testing.T) {
	count := func(c Config) int {
		ch := c.Channels
		conv := func(in, out int) int { return 9*in*out + out }
		dense := func(in, out int) int { return in*out + out }
		res := func(in, out int) int {
			n := 2*in + conv(in, out) + dense(4*ch, out) + 2*out + conv(out, out)
			if in != out {
				n += dense(in, out)
			}
			return n
		}
		attn := func(c int) int { return 2*c + 4*dense(c, c) }
		n := dense(ch, 4*ch) + dense(4*ch, 4*ch) + conv(c.InChannels, ch)
		type skip struct{ ch, size int }
		hs := []skip{{ch, c.ImageSize}}
		for level, mult := range c.ChannelMult {
			for range c.NumResBlocks {
				prev := hs[len(hs)-1]
				n += res(prev.ch, ch*mult)
				if slices.Contains(c.AttnResolutions, prev.size) {
					n += attn(ch * mult)
				}
				hs = append(hs, skip{ch * mult, prev.size})
			}
			if level != len(c.ChannelMult)-1 {
				last := hs[len(hs)-1]
				n += conv(last.ch, last.ch)
				hs = append(hs, skip{last.ch, last.size / 2})
			}
		}
		cur, size := hs[len(hs)-1].ch, hs[len(hs)-1].size
		n += 2*res(cur, cur) + attn(cur)
		for level := len(c.ChannelMult) - 1; level >= 0; level-- {
			for range c.NumResBlocks + 1 {
				s := hs[len(hs)-1]
				hs = hs[:len(hs)-1]
				n += res(cur+s.ch, ch*c.ChannelMult[level])
				cur = ch * c.ChannelMult[level]
				if slices.Contains(c.AttnResolutions, size) {
					n += attn(cur)
				}
			}
			if level != 0 {
				n += conv(cur, cur)
				size *= 2
			}
		}
		return n + 2*cur + conv(cur, c.OutChannels)
	}
	for _, name := range PresetNames() {
		c, _ := Preset(name)
		m, _ := New(c)
		got, err := m.NumParameters(backend.MustNew())
		if err != nil {
			t.Fatal(err)
		}
		if want := count(c); got != want {
			t.Errorf("%s preset: %d parameters, the formulas give %d", name, got, want)
		}
	}
}

// TestAttentionWhereConfigured: self-attention blocks sit exactly at the
// configured resolutions (encoder, decoder) and in the middle, with C x C
// projections of that resolution's width.
func TestAttentionWhereConfigured(t *testing.T) {
	c, _ := Preset("mnist")
	for _, tc := range []struct {
		attn []int
		want int // Attention blocks: NumResBlocks in the encoder and NumResBlocks+1 in the decoder per resolution, plus the middle one.
	}{{nil, 1}, {[]int{7}, 1 + 1 + 2}, {[]int{14}, 1 + 1 + 2}, {[]int{28, 14, 7}, 1 + 3*(1+2)}} {
		c.AttnResolutions = tc.attn
		blocks := map[string]string{}
		for _, v := range variables(t, c) {
			if strings.HasSuffix(v[0], "/q/weights") {
				blocks[v[0]] = v[1]
			}
		}
		if len(blocks) != tc.want {
			t.Errorf("attention at %v: %d blocks, want %d", tc.attn, len(blocks), tc.want)
		}
	}
}

// TestTimestepEmbeddingFormula: the embedding of t is [sin(t f_i), cos(t f_i)]
// with f_i = exp(-ln(10000) i / (half - 1)), as get_timestep_embedding in the
// official code, computed here on the host.
func TestTimestepEmbeddingFormula(t *testing.T) {
	ts := []float32{0, 1, 17, 999}
	const dim = 8
	g := NewGraph(backend.MustNew(), "temb")
	out := TimestepEmbedding(Const(g, ts), dim)
	g.Compile(out)
	got := g.Run()[0].Value().([][]float32)
	g.Finalize()
	for i, tt := range ts {
		for k := range dim / 2 {
			f := math.Exp(-math.Log(10000) * float64(k) / float64(dim/2-1))
			for j, want := range []float64{math.Sin(float64(tt) * f), math.Cos(float64(tt) * f)} {
				if g := float64(got[i][k+j*dim/2]); math.Abs(g-want) > 1e-4 {
					t.Errorf("t=%g, frequency %d, %s: %g, want %g", tt, k, []string{"sin", "cos"}[j], g, want)
				}
			}
		}
	}
}

// TestZeroOutputAtInit: the last convolution starts at zero (as init_scale=0
// in the official code), so an untrained network predicts exactly 0 for any
// input: the loss starts at E|eps|^2 = 1.
func TestZeroOutputAtInit(t *testing.T) {
	c, _ := Preset("tiny")
	m, _ := New(c)
	e, err := context.NewExec(backend.MustNew(), context.New(), func(ctx *context.Context, x, tt *Node) *Node {
		return m.Denoise(ctx, x, tt)
	})
	if err != nil {
		t.Fatal(err)
	}
	x := make([]float32, 2*8*8)
	for i := range x {
		x[i] = float32(math.Sin(float64(i)))
	}
	out, err := e.Exec(tensors.FromFlatDataAndDimensions(x, 2, 8, 8, 1), []int32{3, 90})
	if err != nil {
		t.Fatal(err)
	}
	var vals []float32
	_ = out[0].ConstFlatData(func(a any) { vals = a.([]float32) })
	for i, v := range vals {
		if v != 0 {
			t.Fatalf("output %d at initialisation: %g, want 0", i, v)
		}
	}
}
