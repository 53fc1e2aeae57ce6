// Package toy is diffusion on data you can see: two-dimensional Gaussian
// mixtures, whose noised marginals, scores and optimal denoisers are known
// in closed form, a small MLP denoiser that learns them in seconds, and
// annealed Langevin dynamics (Song & Ermon 2019) next to the DDPM samplers.
//
// The connection it makes concrete is the paper's Section 3.2: the marginal
// of x_t = sqrt(abar_t) x_0 + sqrt(1 - abar_t) eps is q_t, and the best
// eps prediction in squared error is E[eps | x_t], which Tweedie's formula
// turns into the score:
//
//	E[eps | x_t] = -sqrt(1 - abar_t) grad log q_t(x_t).
//
// So a network trained with L_simple is a denoising score-matching model,
// and s_theta(x, t) = -eps_theta(x, t) / sqrt(1 - abar_t) is its score.
package toy

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/diffusion-go/ddpm"
	"github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

// Mixture is a mixture of isotropic Gaussians in two dimensions: component
// k has weight Weights[k], mean Means[k] and standard deviation Std.
type Mixture struct {
	Weights []float64
	Means   [][2]float64
	Std     float64
}

// Ring is k components evenly spaced on a circle of the given radius, with
// the given weights (nil: equal), normalised to sum to one.
func Ring(k int, radius, std float64, weights []float64) (Mixture, error) {
	if k < 1 || radius < 0 || !(std > 0) {
		return Mixture{}, fmt.Errorf("toy.Ring: need k >= 1, radius >= 0 and std > 0 (got %d, %g, %g)", k, radius, std)
	}
	if weights == nil {
		weights = make([]float64, k)
		for i := range weights {
			weights[i] = 1
		}
	}
	m := Mixture{Weights: append([]float64(nil), weights...), Std: std}
	for i := range k {
		a := 2 * math.Pi * float64(i) / float64(k)
		m.Means = append(m.Means, [2]float64{radius * math.Cos(a), radius * math.Sin(a)})
	}
	return m, m.normalise()
}

// normalise checks the mixture and scales the weights to sum to one.
func (m *Mixture) normalise() error {
	if len(m.Weights) != len(m.Means) || len(m.Means) == 0 {
		return fmt.Errorf("toy.Mixture: %d weights for %d means", len(m.Weights), len(m.Means))
	}
	if !(m.Std > 0) {
		return fmt.Errorf("toy.Mixture: std %g must be positive", m.Std)
	}
	sum := 0.0
	for _, w := range m.Weights {
		if !(w >= 0) || math.IsInf(w, 0) {
			return fmt.Errorf("toy.Mixture: weight %g must be finite and not negative", w)
		}
		sum += w
	}
	if sum == 0 {
		return fmt.Errorf("toy.Mixture: the weights sum to zero")
	}
	for i := range m.Weights {
		m.Weights[i] /= sum
	}
	return nil
}

// Sample draws n points, flat [n, 2].
func (m Mixture) Sample(rng *rand.Rand, n int) []float32 {
	out := make([]float32, 2*n)
	for i := range n {
		k, u := 0, rng.Float64()
		for ; k < len(m.Weights)-1 && u >= m.Weights[k]; k++ {
			u -= m.Weights[k]
		}
		out[2*i] = float32(m.Means[k][0] + m.Std*rng.NormFloat64())
		out[2*i+1] = float32(m.Means[k][1] + m.Std*rng.NormFloat64())
	}
	return out
}

// Noised is the marginal q_t of x_t = sqrt(abar) x_0 + sqrt(1 - abar) eps:
// again a mixture, with means scaled by sqrt(abar) and variance
// abar Std^2 + 1 - abar.
func (m Mixture) Noised(abar float64) Mixture {
	out := Mixture{Weights: m.Weights, Std: math.Sqrt(abar*m.Std*m.Std + 1 - abar)}
	for _, mu := range m.Means {
		out.Means = append(out.Means, [2]float64{math.Sqrt(abar) * mu[0], math.Sqrt(abar) * mu[1]})
	}
	return out
}

// responsibilities returns log w_k + log N(x; mu_k, v I) for each k and
// their log-sum-exp.
func (m Mixture) logTerms(x [2]float64) ([]float64, float64) {
	v := m.Std * m.Std
	terms := make([]float64, len(m.Means))
	top := math.Inf(-1)
	for k, mu := range m.Means {
		dx, dy := x[0]-mu[0], x[1]-mu[1]
		terms[k] = math.Log(m.Weights[k]) - (dx*dx+dy*dy)/(2*v) - math.Log(2*math.Pi*v)
		top = math.Max(top, terms[k])
	}
	sum := 0.0
	for _, t := range terms {
		sum += math.Exp(t - top)
	}
	return terms, top + math.Log(sum)
}

// LogDensity is log p(x).
func (m Mixture) LogDensity(x [2]float64) float64 {
	_, lse := m.logTerms(x)
	return lse
}

// Score is grad log p(x) = sum_k r_k(x) (mu_k - x) / Std^2, with r_k the
// posterior probability of component k given x.
func (m Mixture) Score(x [2]float64) [2]float64 {
	terms, lse := m.logTerms(x)
	v := m.Std * m.Std
	var s [2]float64
	for k, mu := range m.Means {
		r := math.Exp(terms[k] - lse)
		s[0] += r * (mu[0] - x[0]) / v
		s[1] += r * (mu[1] - x[1]) / v
	}
	return s
}

// Denoiser is the exact eps predictor for the schedule s, the minimiser of
// L_simple: E[eps | x_t] = -sqrt(1 - abar_t) grad log q_t(x_t), in closed
// form. It has no variables. Shapes: xt [B, 2], t int [B] (the schedule's
// own timesteps) -> [B, 2].
func (m Mixture) Denoiser(s *ddpm.Schedule) ddpm.Denoiser {
	return func(_ *context.Context, xt, t *graph.Node) *graph.Node {
		if xt.Rank() != 2 || xt.Shape().Dimensions[1] != 2 {
			panic(fmt.Sprintf("toy.Mixture.Denoiser: x_t must be [B, 2], got %s", xt.Shape()))
		}
		K := len(m.Means)
		flat := make([]float64, 0, 2*K)
		logW := make([]float64, K)
		for k, mu := range m.Means {
			flat = append(flat, mu[0], mu[1])
			logW[k] = math.Log(m.Weights[k])
		}
		abar := ddpm.Coef(s.AlphasCumprod, t, xt)                                // [B, 1]
		v := graph.Add(graph.MulScalar(abar, m.Std*m.Std), graph.OneMinus(abar)) // [B, 1]
		means := graph.Reshape(graph.ConstAs(xt, flat), 1, K, 2)
		diff := graph.Sub(graph.ExpandAxes(xt, 1), graph.Mul(graph.ExpandAxes(graph.Sqrt(abar), -1), means)) // [B, K, 2]
		d2 := graph.ReduceSum(graph.Square(diff), -1)                                                        // [B, K]
		logits := graph.Sub(graph.Reshape(graph.ConstAs(xt, logW), 1, K), graph.Div(d2, graph.MulScalar(v, 2)))
		r := graph.Softmax(logits, -1)
		mean := graph.ReduceSum(graph.Mul(graph.ExpandAxes(r, -1), diff), 1) // sum_k r_k (x - sqrt(abar) mu_k)
		return graph.Div(graph.Mul(graph.Sqrt(graph.OneMinus(abar)), mean), v)
	}
}

// ModeError measures how well points (flat [n, 2]) reproduce the mixture's
// modes: each point is given to its nearest mean, or to none if it lies
// farther than 4 Std from every mean, and the result is the total variation
// distance between those labels' frequencies and the weights (0: every mode
// at its weight and no stray points; 1: all points stray). frac[k] is the
// share of points at mode k; stray is the share at none.
func (m Mixture) ModeError(points []float32) (tv float64, frac []float64, stray float64) {
	n := len(points) / 2
	frac = make([]float64, len(m.Means))
	if n == 0 {
		return 1, frac, 0
	}
	for i := range n {
		x, y := float64(points[2*i]), float64(points[2*i+1])
		best, bestD := -1, math.Inf(1)
		for k, mu := range m.Means {
			if d := math.Hypot(x-mu[0], y-mu[1]); d < bestD {
				best, bestD = k, d
			}
		}
		if bestD > 4*m.Std || math.IsNaN(bestD) {
			stray++
		} else {
			frac[best]++
		}
	}
	stray /= float64(n)
	tv = stray
	for k := range frac {
		frac[k] /= float64(n)
		tv += math.Abs(frac[k] - m.Weights[k])
	}
	return tv / 2, frac, stray
}
