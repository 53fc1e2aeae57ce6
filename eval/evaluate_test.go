package eval

import (
	"fmt"
	"math"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/data"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// indexModel's bound of image i (counted across batches through the seed
// Bound gives each batch) is i, and its term L_t is t + i, so Bound's
// aggregation over batches has closed forms.
type indexModel struct {
	T     int
	seeds []int64
}

const indexSeed = 100

func (m *indexModel) BPD(_ backends.Backend, x0 *tensors.Tensor, o ddpm.BPDOptions) (*ddpm.BPD, error) {
	m.seeds = append(m.seeds, o.Seed)
	n := x0.Shape().Dimensions[0]
	r := &ddpm.BPD{VB: make([][]float64, m.T), MSE: make([][]float64, m.T), X0MSE: make([][]float64, m.T)}
	for i := range n {
		idx := float64(o.Seed - indexSeed + int64(i))
		r.Total = append(r.Total, idx)
		r.Prior = append(r.Prior, 1e-5)
		for t := range m.T {
			r.VB[t] = append(r.VB[t], float64(t)+idx)
			r.MSE[t] = append(r.MSE[t], 2*idx)
			r.X0MSE[t] = append(r.X0MSE[t], 3*idx)
		}
	}
	r.Decoder = r.VB[0] // as ddpm.CalcBPD: L_0 in both the full chain and the estimate
	return r, nil
}

func (m *indexModel) Sampler(backends.Backend) *ddpm.Sampler { return nil }

func TestBoundAggregatesBatches(t *testing.T) {
	const n = 7
	images := &data.Images{N: n, H: 2, W: 2, C: 1, Pixels: make([]uint8, n*4)}
	m := &indexModel{T: 4}
	rep, err := Bound(nil, m, images, BoundOptions{Batch: 3, Seed: indexSeed})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int64{100, 103, 106}; len(m.seeds) != 3 || m.seeds[0] != want[0] || m.seeds[1] != want[1] || m.seeds[2] != want[2] {
		t.Errorf("batch seeds %v, want %v (the seed plus the batch's first image)", m.seeds, want)
	}
	// Totals 0..6: mean 3, sample variance 28/6, standard error sqrt(28/6/7).
	if rep.Images != n || rep.BitsPerDim != 3 || math.Abs(rep.StdErr-math.Sqrt(28.0/6/7)) > 1e-12 {
		t.Errorf("mean %v ± %v over %d images, want 3 ± %v over 7", rep.BitsPerDim, rep.StdErr, rep.Images, math.Sqrt(28.0/6/7))
	}
	if rep.Decoder != 3 || math.Abs(rep.Prior-1e-5) > 1e-18 {
		t.Errorf("decoder %v (want 3), prior %v (want 1e-5)", rep.Decoder, rep.Prior)
	}
	for tt, v := range rep.TermsPerT {
		if v != float64(tt)+3 || rep.MSEPerT[tt] != 6 || rep.X0MSEPerT[tt] != 9 {
			t.Errorf("t=%d: L_t %v (want %d), eps MSE %v (want 6), x0 MSE %v (want 9)", tt, v, tt+3, rep.MSEPerT[tt], rep.X0MSEPerT[tt])
		}
	}
	if len(rep.TermsPerT) != 4 {
		t.Errorf("%d terms per t, want T = 4", len(rep.TermsPerT))
	}

	// The stratified estimate keeps no per-t terms.
	rep, err = Bound(nil, &indexModel{T: 4}, images, BoundOptions{Batch: 4, Seed: indexSeed, Strata: 2})
	if err != nil || rep.TermsPerT != nil || rep.BitsPerDim != 3 || rep.Decoder != 3 {
		t.Errorf("strata: %v, terms %v, mean %v, decoder %v (want 3: L_0 is reported by the estimate too)", err, rep.TermsPerT, rep.BitsPerDim, rep.Decoder)
	}
	if _, err := Bound(nil, m, &data.Images{N: 1, H: 2, W: 2, C: 1, Pixels: make([]uint8, 4)}, BoundOptions{}); err == nil {
		t.Error("one image: no error, but a standard error needs two")
	}
}

func TestMeanStdErr(t *testing.T) {
	m, se := MeanStdErr([]float64{1, 2, 3, 4})
	if m != 2.5 || math.Abs(se-math.Sqrt(5.0/3)/2) > 1e-15 {
		t.Errorf("got %v ± %v, want 2.5 ± %v", m, se, math.Sqrt(5.0/3)/2)
	}
	if _, se := MeanStdErr([]float64{1}); !math.IsNaN(se) {
		t.Errorf("one value: standard error %v, want NaN", se)
	}
}

func TestCanMeasure(t *testing.T) {
	c := &Classifier{Config: ClassifierConfig{ImageSize: 28, Channels: 1}}
	k := max(PrecisionRecallK, DensityCoverageK)
	if err := c.CanMeasure(k+1, 28, 1); err != nil {
		t.Errorf("%d samples of 28x28x1: %v", k+1, err)
	}
	if err := c.CanMeasure(k, 28, 1); err == nil || !strings.Contains(err.Error(), fmt.Sprintf("need more than %d samples", k)) {
		t.Errorf("%d samples: %v", k, err)
	}
	if err := c.CanMeasure(100, 32, 3); err == nil || !strings.Contains(err.Error(), "takes 28x28x1 images but the model makes 32x32x3") {
		t.Errorf("CIFAR-shaped model: %v", err)
	}
}
