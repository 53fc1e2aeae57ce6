// Package eval measures generative models: the Frechet distance between
// feature distributions (the quantity behind FID), and simple feature maps.
package eval

import (
	"errors"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mat"
)

// Gaussian is the mean and covariance of a set of feature vectors.
type Gaussian struct {
	Mean []float64
	Cov  *mat.SymDense
}

// FitGaussian returns the sample mean and the unbiased sample covariance of
// n feature vectors of dimension dim, given flat (row-major [n, dim]).
func FitGaussian(features []float64, n, dim int) (Gaussian, error) {
	if n < 2 || dim < 1 || len(features) != n*dim {
		return Gaussian{}, fmt.Errorf("fitting a Gaussian needs at least 2 vectors: got %d values for %d x %d", len(features), n, dim)
	}
	mean := make([]float64, dim)
	for i := range n {
		for j := range dim {
			mean[j] += features[i*dim+j] / float64(n)
		}
	}
	cov := mat.NewSymDense(dim, nil)
	for a := range dim {
		for b := a; b < dim; b++ {
			s := 0.0
			for i := range n {
				s += (features[i*dim+a] - mean[a]) * (features[i*dim+b] - mean[b])
			}
			cov.SetSym(a, b, s/float64(n-1))
		}
	}
	for _, v := range features {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return Gaussian{}, errors.New("fitting a Gaussian: features contain NaN or Inf")
		}
	}
	return Gaussian{Mean: mean, Cov: cov}, nil
}

// FrechetDistance returns the squared Frechet (2-Wasserstein) distance
// between N(m1, C1) and N(m2, C2):
//
//	|m1 - m2|^2 + tr(C1) + tr(C2) - 2 tr((C1^1/2 C2 C1^1/2)^1/2)
//
// computed with symmetric eigendecompositions (negative eigenvalues from
// rounding are clamped to 0).
func FrechetDistance(a, b Gaussian) (float64, error) {
	dim := len(a.Mean)
	if dim == 0 || len(b.Mean) != dim || a.Cov.SymmetricDim() != dim || b.Cov.SymmetricDim() != dim {
		return 0, fmt.Errorf("Frechet distance: dimensions %d and %d differ", len(a.Mean), len(b.Mean))
	}
	d2 := 0.0
	for i := range dim {
		d := a.Mean[i] - b.Mean[i]
		d2 += d * d
	}
	s1, err := sqrtSym(a.Cov)
	if err != nil {
		return 0, err
	}
	var m mat.Dense
	m.Mul(s1, b.Cov)
	m.Mul(&m, s1)
	sym := mat.NewSymDense(dim, nil)
	for i := range dim {
		for j := i; j < dim; j++ {
			sym.SetSym(i, j, (m.At(i, j)+m.At(j, i))/2)
		}
	}
	var eig mat.EigenSym
	if !eig.Factorize(sym, false) {
		return 0, errors.New("Frechet distance: eigendecomposition failed")
	}
	trSqrt := 0.0
	for _, v := range eig.Values(nil) {
		trSqrt += math.Sqrt(math.Max(v, 0))
	}
	return d2 + mat.Trace(a.Cov) + mat.Trace(b.Cov) - 2*trSqrt, nil
}

// sqrtSym returns the symmetric square root of a positive semi-definite matrix.
func sqrtSym(c *mat.SymDense) (*mat.Dense, error) {
	var eig mat.EigenSym
	if !eig.Factorize(c, true) {
		return nil, errors.New("Frechet distance: eigendecomposition failed")
	}
	vals := eig.Values(nil)
	var vecs mat.Dense
	eig.VectorsTo(&vecs)
	n := len(vals)
	diag := mat.NewDense(n, n, nil)
	for i, v := range vals {
		diag.Set(i, i, math.Sqrt(math.Max(v, 0)))
	}
	var out mat.Dense
	out.Mul(&vecs, diag)
	out.Mul(&out, vecs.T())
	return &out, nil
}

// PoolFeatures averages each image (flat [n, h, w, c]) over factor x factor
// blocks, giving n vectors of (h/factor)(w/factor)c values: a crude feature
// space in which a Frechet distance compares coarse image structure.
func PoolFeatures(images []float32, n, h, w, c, factor int) ([]float64, int, error) {
	if factor < 1 || h%factor != 0 || w%factor != 0 || len(images) != n*h*w*c {
		return nil, 0, fmt.Errorf("pooling %d values as %d images of %dx%dx%d by %d", len(images), n, h, w, c, factor)
	}
	ph, pw := h/factor, w/factor
	dim := ph * pw * c
	out := make([]float64, n*dim)
	for i := range n {
		for y := range h {
			for x := range w {
				for k := range c {
					v := float64(images[((i*h+y)*w+x)*c+k])
					out[i*dim+((y/factor)*pw+x/factor)*c+k] += v / float64(factor*factor)
				}
			}
		}
	}
	return out, dim, nil
}
