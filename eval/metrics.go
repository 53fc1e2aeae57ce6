package eval

import (
	"fmt"
	"math"
	"slices"
)

// PrecisionRecall is the improved precision and recall of Kynkaanniemi et
// al. (2019): each set's manifold is the union of balls centred at its
// feature vectors, with radius the distance to the k-th nearest neighbour
// within the set. Precision is the share of generated vectors inside the
// real manifold (how many samples look real); recall the share of real
// vectors inside the generated manifold (how much of the data the samples
// cover). The paper uses k = 3. Both sets are flat [n, dim].
func PrecisionRecall(real []float64, nReal int, fake []float64, nFake int, dim, k int) (precision, recall float64, err error) {
	if dim < 1 || k < 1 || len(real) != nReal*dim || len(fake) != nFake*dim {
		return 0, 0, fmt.Errorf("precision/recall: %d and %d values are not %d and %d vectors of %d", len(real), len(fake), nReal, nFake, dim)
	}
	if nReal <= k || nFake <= k {
		return 0, 0, fmt.Errorf("precision/recall with k=%d needs more than %d vectors in each set (got %d real, %d generated)", k, k, nReal, nFake)
	}
	rReal := kthNeighbourRadii(real, nReal, dim, k)
	rFake := kthNeighbourRadii(fake, nFake, dim, k)
	return coverage(fake, nFake, real, rReal, dim), coverage(real, nReal, fake, rFake, dim), nil
}

// DensityCoverage is the density and coverage of Naeem et al. (2020), which
// build balls only around the real vectors (radius: the distance to the k-th
// nearest other real vector), so that outlying generated vectors cannot
// inflate them as they inflate precision:
//
//	density  = 1/(k M) sum_j sum_i 1[fake_j in B(real_i, r_i)]
//	coverage = 1/N sum_i 1[some fake_j in B(real_i, r_i)]
//
// for N real and M generated vectors. Density is about 1 for samples from
// the data's law (it can exceed 1); coverage is the share of real vectors
// with a generated one nearby. The paper uses k = 5. Both sets are flat [n, dim].
func DensityCoverage(real []float64, nReal int, fake []float64, nFake int, dim, k int) (density, coverage float64, err error) {
	if dim < 1 || k < 1 || len(real) != nReal*dim || len(fake) != nFake*dim {
		return 0, 0, fmt.Errorf("density/coverage: %d and %d values are not %d and %d vectors of %d", len(real), len(fake), nReal, nFake, dim)
	}
	if nReal <= k || nFake < 1 {
		return 0, 0, fmt.Errorf("density/coverage with k=%d needs more than %d real vectors and a generated one (got %d real, %d generated)", k, k, nReal, nFake)
	}
	radii := kthNeighbourRadii(real, nReal, dim, k)
	inside, covered := 0, make([]bool, nReal)
	for j := range nFake {
		v := fake[j*dim : (j+1)*dim]
		for i, r := range radii {
			if sqDist(v, real[i*dim:(i+1)*dim]) <= r {
				inside++
				covered[i] = true
			}
		}
	}
	n := 0
	for _, c := range covered {
		if c {
			n++
		}
	}
	return float64(inside) / float64(k*nFake), float64(n) / float64(nReal), nil
}

// kthNeighbourRadii returns, for each vector, the squared distance to its
// k-th nearest other vector of the same set.
func kthNeighbourRadii(x []float64, n, dim, k int) []float64 {
	radii := make([]float64, n)
	d := make([]float64, 0, n)
	for i := range n {
		d = d[:0]
		for j := range n {
			if j != i {
				d = append(d, sqDist(x[i*dim:(i+1)*dim], x[j*dim:(j+1)*dim]))
			}
		}
		slices.Sort(d)
		radii[i] = d[k-1]
	}
	return radii
}

// coverage is the share of the vectors of q that lie in at least one ball
// (centre in set, squared radius in radii).
func coverage(q []float64, nq int, set []float64, radii []float64, dim int) float64 {
	in := 0
	for i := range nq {
		v := q[i*dim : (i+1)*dim]
		for j, r := range radii {
			if sqDist(v, set[j*dim:(j+1)*dim]) <= r {
				in++
				break
			}
		}
	}
	return float64(in) / float64(nq)
}

func sqDist(a, b []float64) float64 {
	s := 0.0
	for i := range a {
		d := a[i] - b[i]
		s += d * d
	}
	return s
}

// LabelStats summarises a classifier's predictions on samples: the
// analogue of the Inception score with the dataset's own classifier.
type LabelStats struct {
	// Entropy is the mean entropy of p(y|x) in nats: low when the classifier
	// is sure of what each sample shows.
	Entropy float64 `json:"conditional_entropy"`
	// MarginalEntropy is the entropy of the mean p(y) in nats: log(classes)
	// when every class is equally frequent.
	MarginalEntropy float64 `json:"marginal_entropy"`
	// Score is exp(E_x KL(p(y|x) || p(y))) = exp(MarginalEntropy - Entropy),
	// the Inception score's formula: between 1 and the number of classes.
	Score float64 `json:"score"`
	// Histogram is the share of samples assigned to each class (argmax).
	Histogram []float64 `json:"class_histogram"`
}

// Labels computes LabelStats from n rows of class probabilities.
func Labels(probs []float64, n, classes int) (LabelStats, error) {
	if n < 1 || classes < 2 || len(probs) != n*classes {
		return LabelStats{}, fmt.Errorf("label statistics: %d values are not %d rows of %d classes", len(probs), n, classes)
	}
	marg := make([]float64, classes)
	hist := make([]float64, classes)
	var st LabelStats
	for i := range n {
		row := probs[i*classes : (i+1)*classes]
		best := 0
		for c, p := range row {
			if p < 0 || math.IsNaN(p) {
				return LabelStats{}, fmt.Errorf("label statistics: probability %v in row %d", p, i)
			}
			marg[c] += p / float64(n)
			st.Entropy -= xlogx(p) / float64(n)
			if p > row[best] {
				best = c
			}
		}
		hist[best] += 1 / float64(n)
	}
	for _, p := range marg {
		st.MarginalEntropy -= xlogx(p)
	}
	st.Score = math.Exp(st.MarginalEntropy - st.Entropy)
	st.Histogram = hist
	return st, nil
}

func xlogx(p float64) float64 {
	if p <= 0 {
		return 0
	}
	return p * math.Log(p)
}

// Quality is the sample-quality report of one set of images against the
// real data, in a classifier's feature space.
type Quality struct {
	N         int        `json:"n"`
	Frechet   float64    `json:"frechet_distance"` // Against the reference statistics (all real test images).
	Precision float64    `json:"precision"`        // Against N real images, k = 3.
	Recall    float64    `json:"recall"`
	Density   float64    `json:"density"`  // Against N real images, k = 5 (Naeem et al. 2020).
	Coverage  float64    `json:"coverage"` // Same.
	Labels    LabelStats `json:"labels"`
}

// Reference holds the real data's side of the comparison: the Gaussian of
// the features of many real images, and the features of n of them for
// precision and recall.
type Reference struct {
	Stats    Gaussian
	Features []float64 // [N, Dim]
	N, Dim   int
}

// NewReference fits the reference statistics on all of feats (the
// classifier's features of the real images, [n, dim]) and keeps the first
// keep vectors for precision and recall.
func NewReference(feats []float64, n, dim, keep int) (*Reference, error) {
	g, err := FitGaussian(feats, n, dim)
	if err != nil {
		return nil, err
	}
	keep = min(keep, n)
	return &Reference{Stats: g, Features: feats[:keep*dim], N: keep, Dim: dim}, nil
}

// PrecisionRecallK is the neighbourhood size of the reported precision and
// recall (Kynkaanniemi et al.'s choice).
const PrecisionRecallK = 3

// DensityCoverageK is the neighbourhood size of the reported density and
// coverage (Naeem et al.'s choice).
const DensityCoverageK = 5

// Compare measures a set of predictions against the reference. Precision and
// recall use min(N, ref.N) vectors of each side.
func (ref *Reference) Compare(p *Predictions) (Quality, error) {
	if p.Dim != ref.Dim {
		return Quality{}, fmt.Errorf("sample quality: features of dimension %d against a reference of %d", p.Dim, ref.Dim)
	}
	q := Quality{N: p.N}
	g, err := FitGaussian(p.Features, p.N, p.Dim)
	if err != nil {
		return Quality{}, err
	}
	if q.Frechet, err = FrechetDistance(ref.Stats, g); err != nil {
		return Quality{}, err
	}
	m := min(p.N, ref.N)
	if q.Precision, q.Recall, err = PrecisionRecall(ref.Features[:m*ref.Dim], m, p.Features[:m*p.Dim], m, p.Dim, PrecisionRecallK); err != nil {
		return Quality{}, err
	}
	if q.Density, q.Coverage, err = DensityCoverage(ref.Features[:m*ref.Dim], m, p.Features[:m*p.Dim], m, p.Dim, DensityCoverageK); err != nil {
		return Quality{}, err
	}
	if q.Labels, err = Labels(p.Probs, p.N, p.Classes); err != nil {
		return Quality{}, err
	}
	return q, nil
}

// Quantize rounds images in [-1, 1] to the 256 levels of an 8-bit image
// file (clipping what lies outside), in place: samples are measured as they
// would be saved, like the real images they are compared with.
func Quantize(pixels []float32) {
	for i, v := range pixels {
		q := math.Round((float64(v) + 1) * 127.5)
		q = math.Max(0, math.Min(255, q))
		pixels[i] = float32(q/127.5 - 1)
	}
}
