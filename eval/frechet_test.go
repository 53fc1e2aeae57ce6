package eval

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"gonum.org/v1/gonum/mat"
)

func TestFrechetIdenticalIsZero(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	feats := make([]float64, 500*4)
	for i := range feats {
		feats[i] = rng.NormFloat64() * float64(1+i%4)
	}
	g, err := FitGaussian(feats, 500, 4)
	if err != nil {
		t.Fatal(err)
	}
	d, err := FrechetDistance(g, g)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(d) > 1e-9 {
		t.Errorf("distance of a set to itself %g, want 0", d)
	}
}

// TestFrechetClosedForm: for diagonal covariances the distance is
// |m1 - m2|^2 + sum (s1 - s2)^2; for the 1-D case (m1-m2)^2 + (s1-s2)^2.
func TestFrechetClosedForm(t *testing.T) {
	a := Gaussian{Mean: []float64{0, 1, 2}, Cov: mat.NewSymDense(3, []float64{4, 0, 0, 0, 1, 0, 0, 0, 9})}
	b := Gaussian{Mean: []float64{1, 1, 0}, Cov: mat.NewSymDense(3, []float64{1, 0, 0, 0, 1, 0, 0, 0, 1})}
	want := (1.0 + 0 + 4) + (1.0 + 0 + 4) // means: 1+0+4; stds (2,1,3) vs 1: 1+0+4.
	got, err := FrechetDistance(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-want) > 1e-9 {
		t.Errorf("diagonal: %g, want %g", got, want)
	}
	// A rotated pair: C2 = R C1 R^T with the same eigenvalues. Rotation-invariance of the
	// formula's terms gives, for C1 = diag(4, 1) and R a 90-degree rotation (C2 = diag(1, 4)):
	// tr C1 + tr C2 - 2 tr sqrt(C1^1/2 C2 C1^1/2) = 5 + 5 - 2 (sqrt(4) + sqrt(4)) = 2.
	c := Gaussian{Mean: []float64{0, 0}, Cov: mat.NewSymDense(2, []float64{4, 0, 0, 1})}
	e := Gaussian{Mean: []float64{0, 0}, Cov: mat.NewSymDense(2, []float64{1, 0, 0, 4})}
	if got, _ := FrechetDistance(c, e); math.Abs(got-2) > 1e-9 {
		t.Errorf("rotated: %g, want 2", got)
	}
	// Full covariances: the distance is symmetric.
	f := Gaussian{Mean: []float64{0.5, -1}, Cov: mat.NewSymDense(2, []float64{2, 0.7, 0.7, 1})}
	d1, _ := FrechetDistance(c, f)
	d2, _ := FrechetDistance(f, c)
	if math.Abs(d1-d2) > 1e-9 {
		t.Errorf("not symmetric: %g vs %g", d1, d2)
	}
}

func TestFrechetGrowsWithShift(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 2))
	base := make([]float64, 400*3)
	for i := range base {
		base[i] = rng.NormFloat64()
	}
	g0, _ := FitGaussian(base, 400, 3)
	prev := -1.0
	for _, shift := range []float64{0.1, 0.5, 1, 2} {
		moved := make([]float64, len(base))
		for i, v := range base {
			moved[i] = v + shift
		}
		g, _ := FitGaussian(moved, 400, 3)
		d, _ := FrechetDistance(g0, g)
		// Same covariance: exactly 3 shift^2.
		if math.Abs(d-3*shift*shift) > 1e-9 || d <= prev {
			t.Errorf("shift %g: distance %g, want %g and growing", shift, d, 3*shift*shift)
		}
		prev = d
	}
}

func TestPoolFeatures(t *testing.T) {
	// One 2x4 grey image pooled by 2: blocks [1 2; 5 6] and [3 4; 7 8].
	f, dim, err := PoolFeatures([]float32{1, 2, 3, 4, 5, 6, 7, 8}, 1, 2, 4, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	if dim != 2 || f[0] != 3.5 || f[1] != 5.5 {
		t.Errorf("pooled %v (dim %d), want [3.5 5.5]", f, dim)
	}
	if _, _, err := PoolFeatures(make([]float32, 9), 1, 3, 3, 1, 2); err == nil {
		t.Error("pooling 3x3 by 2: no error")
	}
}

func TestFitGaussianRejectsNaN(t *testing.T) {
	feats := []float64{1, 2, math.NaN(), 4, 5, 6}
	if _, err := FitGaussian(feats, 3, 2); err == nil || !strings.Contains(err.Error(), "NaN") {
		t.Fatalf("NaN feature: %v", err)
	}
}

// TestFrechetNonCommuting: for 2x2 covariances the trace term has a closed
// form that needs no matrix square root: M = C1^1/2 C2 C1^1/2 has trace
// tr(C1 C2) and determinant det(C1) det(C2), and for a 2x2 positive
// semi-definite M, tr(M^1/2) = sqrt(tr(M) + 2 sqrt(det(M))). With C1 and C2
// that do not commute (so tr(C1^1/2 C2^1/2) and similar shortcuts differ),
// the distance must match it.
func TestFrechetNonCommuting(t *testing.T) {
	c1 := mat.NewSymDense(2, []float64{2, 1, 1, 1})
	c2 := mat.NewSymDense(2, []float64{1, -0.5, -0.5, 2})
	var p, q mat.Dense
	p.Mul(c1, c2)
	q.Mul(c2, c1)
	if mat.Equal(&p, &q) {
		t.Fatal("the test covariances commute")
	}
	a := Gaussian{Mean: []float64{0, 0}, Cov: c1}
	b := Gaussian{Mean: []float64{1, 2}, Cov: c2}
	// tr(C1 C2) = 2 - 0.5 - 0.5 + 2 = 3; det C1 = 1; det C2 = 1.75.
	want := 5 + 3 + 3 - 2*math.Sqrt(3+2*math.Sqrt(1*1.75))
	got, err := FrechetDistance(a, b)
	if err != nil {
		t.Fatal(err)
	}
	if math.Abs(got-want) > 1e-12 {
		t.Errorf("Frechet distance %.15g, want %.15g", got, want)
	}
	back, _ := FrechetDistance(b, a)
	if math.Abs(back-want) > 1e-12 {
		t.Errorf("Frechet distance is not symmetric: %.15g against %.15g", back, want)
	}
}
