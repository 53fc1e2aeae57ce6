package eval

import (
	"math"
	"math/rand/v2"
	"testing"
)

func gaussianCloud(rng *rand.Rand, n, dim int, centre, scale float64) []float64 {
	x := make([]float64, n*dim)
	for i := range x {
		x[i] = centre + scale*rng.NormFloat64()
	}
	return x
}

func TestPrecisionRecallIdenticalSets(t *testing.T) {
	x := gaussianCloud(rand.New(rand.NewPCG(1, 2)), 200, 5, 0, 1)
	p, r, err := PrecisionRecall(x, 200, x, 200, 5, 3)
	if err != nil {
		t.Fatal(err)
	}
	if p != 1 || r != 1 {
		t.Fatalf("identical sets: precision %v, recall %v; want 1, 1", p, r)
	}
}

func TestPrecisionRecallDisjointSets(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	a := gaussianCloud(rng, 100, 4, 0, 1)
	b := gaussianCloud(rng, 100, 4, 100, 1)
	p, r, err := PrecisionRecall(a, 100, b, 100, 4, 3)
	if err != nil {
		t.Fatal(err)
	}
	if p != 0 || r != 0 {
		t.Fatalf("far-apart sets: precision %v, recall %v; want 0, 0", p, r)
	}
}

// A generator that reproduces only one of two modes of the data: its samples
// all look real (precision near 1) but cover half of the data (recall near
// 1/2). Swapping the roles swaps the numbers.
func TestPrecisionRecallModeDropping(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	const n, dim = 400, 2
	real := append(gaussianCloud(rng, n/2, dim, 0, 1), gaussianCloud(rng, n/2, dim, 50, 1)...)
	fake := gaussianCloud(rng, n, dim, 0, 1)
	p, r, err := PrecisionRecall(real, n, fake, n, dim, 3)
	if err != nil {
		t.Fatal(err)
	}
	if p < 0.95 || math.Abs(r-0.5) > 0.05 {
		t.Fatalf("one mode of two: precision %.3f (want ~1), recall %.3f (want ~0.5)", p, r)
	}
	p2, r2, _ := PrecisionRecall(fake, n, real, n, dim, 3)
	if p2 != r || r2 != p {
		t.Fatalf("swapping the sets should swap precision and recall: (%v, %v) vs (%v, %v)", p, r, p2, r2)
	}
}

func TestPrecisionRecallRejectsBadInput(t *testing.T) {
	x := make([]float64, 6)
	if _, _, err := PrecisionRecall(x, 3, x, 3, 2, 3); err == nil {
		t.Error("3 vectors with k=3: want an error")
	}
	if _, _, err := PrecisionRecall(x, 4, x, 3, 2, 1); err == nil {
		t.Error("length mismatch: want an error")
	}
}

func TestLabelStatsClosedForms(t *testing.T) {
	const classes = 10
	oneHot := func(n int, class func(i int) int) []float64 {
		p := make([]float64, n*classes)
		for i := range n {
			p[i*classes+class(i)] = 1
		}
		return p
	}
	cases := []struct {
		name                     string
		probs                    []float64
		entropy, marginal, score float64
	}{
		{"confident and balanced", oneHot(100, func(i int) int { return i % classes }), 0, math.Log(classes), classes},
		{"confident, one class", oneHot(100, func(int) int { return 3 }), 0, 0, 1},
		{"unsure", func() []float64 {
			p := make([]float64, 50*classes)
			for i := range p {
				p[i] = 1.0 / classes
			}
			return p
		}(), math.Log(classes), math.Log(classes), 1},
		{"two classes, half sure", func() []float64 {
			p := make([]float64, 2*classes)
			p[0], p[1] = 0.5, 0.5 // Row 0 unsure between 0 and 1,
			p[classes+1] = 1      // row 1 sure of 1: p(y) = (1/4, 3/4).
			return p
		}(), math.Log(2) / 2, -(0.25*math.Log(0.25) + 0.75*math.Log(0.75)), math.Exp(-(0.25*math.Log(0.25) + 0.75*math.Log(0.75)) - math.Log(2)/2)},
	}
	for _, c := range cases {
		n := len(c.probs) / classes
		st, err := Labels(c.probs, n, classes)
		if err != nil {
			t.Fatal(err)
		}
		if math.Abs(st.Entropy-c.entropy) > 1e-12 || math.Abs(st.MarginalEntropy-c.marginal) > 1e-12 || math.Abs(st.Score-c.score) > 1e-9 {
			t.Errorf("%s: entropy %v, marginal %v, score %v; want %v, %v, %v", c.name, st.Entropy, st.MarginalEntropy, st.Score, c.entropy, c.marginal, c.score)
		}
		sum := 0.0
		for _, h := range st.Histogram {
			sum += h
		}
		if math.Abs(sum-1) > 1e-12 {
			t.Errorf("%s: histogram sums to %v", c.name, sum)
		}
	}
	if _, err := Labels([]float64{math.NaN(), 1}, 1, 2); err == nil {
		t.Error("NaN probability: want an error")
	}
}

// Compare against the reference: a sample of the same distribution scores a
// small distance and precision/recall near 1; a shifted one a larger
// distance and lower precision and recall.
func TestReferenceCompare(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	const dim, classes = 3, 2
	ref, err := NewReference(gaussianCloud(rng, 2000, dim, 0, 1), 2000, dim, 300)
	if err != nil {
		t.Fatal(err)
	}
	probs := make([]float64, 300*classes)
	for i := range 300 {
		probs[i*classes+i%2] = 1
	}
	same, err := ref.Compare(&Predictions{N: 300, Classes: classes, Dim: dim, Features: gaussianCloud(rng, 300, dim, 0, 1), Probs: probs})
	if err != nil {
		t.Fatal(err)
	}
	shifted, err := ref.Compare(&Predictions{N: 300, Classes: classes, Dim: dim, Features: gaussianCloud(rng, 300, dim, 1.5, 1), Probs: probs})
	if err != nil {
		t.Fatal(err)
	}
	// E[FD] for a same-distribution sample of 300 in 3 dims is about
	// dim/n + small covariance noise: well under 0.1. The shift adds 3*1.5^2.
	if same.Frechet > 0.1 || math.Abs(shifted.Frechet-6.75) > 1 {
		t.Errorf("Frechet distance: same %v (want < 0.1), shifted %v (want ~6.75)", same.Frechet, shifted.Frechet)
	}
	if same.Precision < 0.9 || same.Recall < 0.9 || shifted.Precision > same.Precision-0.2 || shifted.Recall > same.Recall-0.2 {
		t.Errorf("precision/recall: same (%v, %v), shifted (%v, %v)", same.Precision, same.Recall, shifted.Precision, shifted.Recall)
	}
	if math.Abs(same.Labels.Score-2) > 1e-9 {
		t.Errorf("label score %v, want 2", same.Labels.Score)
	}
}

// TestDensityCoverageByHand: real points 0..6 on a line with k = 1 have balls
// of radius 1. Generated points 0.5 and 0.6 each lie in the balls of 0 and 1
// (2 + 2 memberships), 100 in none: density 4 / (1 * 3), coverage 2 of 7
// real points. An outlier changes neither number's share from the inliers,
// unlike precision, which counts it against the real manifold of the
// generated set too. The same set against itself covers everything.
func TestDensityCoverageByHand(t *testing.T) {
	real := []float64{0, 1, 2, 3, 4, 5, 6}
	fake := []float64{0.5, 0.6, 100}
	d, c, err := DensityCoverage(real, 7, fake, 3, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(d-4.0/3) > 1e-12 || math.Abs(c-2.0/7) > 1e-12 {
		t.Errorf("density %g, coverage %g; want 4/3 and 2/7", d, c)
	}
	d, c, err = DensityCoverage(real, 7, real, 7, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	// k = 2: radii 2, 1, 1, 1, 1, 1, 2 (the endpoints reach two away). Balls
	// holding each point: 0 in B0, B1; 1 in B0, B1, B2; 2 in B0..B3; 3 in
	// B2, B3, B4; 4 in B3..B6; 5 in B4, B5, B6; 6 in B5, B6: 21 in all.
	if math.Abs(d-21.0/(2*7)) > 1e-12 || c != 1 {
		t.Errorf("identical sets: density %g, coverage %g; want 1.5 and 1", d, c)
	}
	if _, _, err := DensityCoverage(real, 7, fake, 3, 1, 7); err == nil {
		t.Error("k = 7 with 7 real points: no error")
	}
}

// TestPrecisionRecallByHand: on a line with k = 1, the real points 0, 1, 2, 3
// have balls of radius 1; the generated points 0.5, 10, 2.9 have balls of
// radius 2.4, 7.1 and 2.4 (the distance to the nearest other generated
// point). Precision, the share of generated points inside a real ball, is
// 2/3 (10 is outside every one); recall, the share of real points inside a
// generated ball, is 1. With the roles swapped, every point of 0..3 lies in
// a ball of 0.5 or 2.9 (precision 1), and the balls of 0..3 hold 0.5 and
// 2.9 but not 10 (recall 2/3).
func TestPrecisionRecallByHand(t *testing.T) {
	real, fake := []float64{0, 1, 2, 3}, []float64{0.5, 10, 2.9}
	p, r, err := PrecisionRecall(real, 4, fake, 3, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(p-2.0/3) > 1e-12 || r != 1 {
		t.Errorf("precision %g, recall %g; want 2/3 and 1", p, r)
	}
	p, r, err = PrecisionRecall(fake, 3, real, 4, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	if p != 1 || math.Abs(r-2.0/3) > 1e-12 {
		t.Errorf("sets swapped: precision %g, recall %g; want 1 and 2/3", p, r)
	}
}
