package eval

import (
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/data"
	"github.com/gomlx/gomlx/backends"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// Model is a trained diffusion model as Bound and SampleQuality measure it;
// train.Trained is one.
type Model interface {
	// BPD evaluates the variational bound of the images x0.
	BPD(b backends.Backend, x0 *tensors.Tensor, opts ddpm.BPDOptions) (*ddpm.BPD, error)
	// Sampler returns a sampler of the model on b.
	Sampler(b backends.Backend) *ddpm.Sampler
}

// BoundOptions says how Bound measures.
type BoundOptions struct {
	Batch  int   // Images per batch (default 128).
	Strata int   // 0: the full chain of T terms; K: the unbiased estimate from K+1 passes.
	Seed   int64 // Seed of the noise draws; batch i uses Seed + its first image's index.
	ClipX0 bool  // Clip the predicted x_0 to [-1, 1] in the posterior mean.
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// Bound measures the variational bound of m on the images, in bits per
// dimension: the mean over images with its standard error and, for the full
// chain, the mean of every per-timestep term.
func Bound(b backends.Backend, m Model, images *data.Images, o BoundOptions) (*BPDReport, error) {
	if images.N < 2 {
		return nil, fmt.Errorf("the bound's standard error needs at least 2 images, have %d", images.N)
	}
	if o.Batch <= 0 {
		o.Batch = 128
	}
	start := time.Now()
	var totals, priors, vb0 []float64
	var sumVB, sumMSE, sumX0 []float64
	per := images.H * images.W * images.C
	all := images.Float()
	for b0 := 0; b0 < images.N; b0 += o.Batch {
		b1 := min(b0+o.Batch, images.N)
		x0 := tensors.FromFlatDataAndDimensions(all[b0*per:b1*per], b1-b0, images.H, images.W, images.C)
		opts := ddpm.BPDOptions{Seed: o.Seed + int64(b0), ClipX0: o.ClipX0, Strata: o.Strata}
		if o.Log != nil {
			opts.Progress = func(done, total int) {
				if done%100 == 0 || done == total {
					fmt.Fprintf(o.Log, "\reval: images %d-%d of %d, pass %d/%d", b0+1, b1, images.N, done, total)
				}
			}
		}
		res, err := m.BPD(b, x0, opts)
		if err != nil {
			return nil, err
		}
		totals = append(totals, res.Total...)
		priors = append(priors, res.Prior...)
		vb0 = append(vb0, res.Decoder...)
		if o.Strata == 0 {
			if sumVB == nil {
				T := len(res.VB)
				sumVB, sumMSE, sumX0 = make([]float64, T), make([]float64, T), make([]float64, T)
			}
			for t := range res.VB {
				for i := range res.VB[t] {
					sumVB[t] += res.VB[t][i]
					sumMSE[t] += res.MSE[t][i]
					sumX0[t] += res.X0MSE[t][i]
				}
			}
		}
	}
	if o.Log != nil {
		fmt.Fprintln(o.Log)
	}
	m0, se := MeanStdErr(totals)
	prior, _ := MeanStdErr(priors)
	rep := &BPDReport{Images: images.N, BitsPerDim: m0, StdErr: se, Strata: o.Strata, Prior: prior,
		Seconds: time.Since(start).Seconds(), ClipX0: o.ClipX0}
	rep.Decoder, _ = MeanStdErr(vb0)
	if o.Strata == 0 {
		for t := range sumVB {
			sumVB[t] /= float64(images.N)
			sumMSE[t] /= float64(images.N)
			sumX0[t] /= float64(images.N)
		}
		rep.TermsPerT, rep.MSEPerT, rep.X0MSEPerT = sumVB, sumMSE, sumX0
	}
	return rep, nil
}

// MeanStdErr returns the mean of xs and its standard error (the sample
// standard deviation over sqrt(n); NaN for fewer than 2 values).
func MeanStdErr(xs []float64) (mean, stdErr float64) {
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	if len(xs) < 2 {
		return mean, math.NaN()
	}
	v := 0.0
	for _, x := range xs {
		v += (x - mean) * (x - mean)
	}
	return mean, math.Sqrt(v/float64(len(xs)-1)) / math.Sqrt(float64(len(xs)))
}

// HoldOut splits images into n of them spread evenly over the set (every
// k-th, k = N/n, ending each stride: images k-1, 2k-1, ...) and the others.
// MNIST's test set is ordered: its first 5000 digits are cleaner than its
// last 5000, so a held-out set must sample both halves. It needs n >= 1 and
// at least 2n images.
func HoldOut(images *data.Images, n int) (held, rest *data.Images, err error) {
	if n < 1 || images.N < 2*n {
		return nil, nil, fmt.Errorf("holding out %d of %d images: needs at least one, and twice as many images", n, images.N)
	}
	k := images.N / n
	size := images.H * images.W * images.C
	held = &data.Images{H: images.H, W: images.W, C: images.C}
	rest = &data.Images{H: images.H, W: images.W, C: images.C}
	for i := range images.N {
		to := rest
		if i%k == k-1 && held.N < n {
			to = held
		}
		to.Pixels = append(to.Pixels, images.Pixels[i*size:(i+1)*size]...)
		if images.Labels != nil {
			to.Labels = append(to.Labels, images.Labels[i])
		}
		to.N++
	}
	return held, rest, nil
}

// TestReference is the reference that samples are compared with: the
// classifier's features of the test images, with all of them for the
// Fréchet statistics and the first keep for precision, recall, density and
// coverage.
func TestReference(c *Classifier, test *data.Images, keep int) (*Reference, error) {
	p, err := c.Predict(test)
	if err != nil {
		return nil, err
	}
	ref, err := NewReference(p.Features, p.N, p.Dim, keep)
	if err != nil {
		return nil, err
	}
	if ref.N < keep {
		return nil, fmt.Errorf("%d samples need as many test images for precision and recall; the test set has %d", keep, ref.N)
	}
	return ref, nil
}

// QualityOptions says how SampleQuality draws.
type QualityOptions struct {
	N      int                // Samples to draw (more than DensityCoverageK).
	Batch  int                // Samples per batch (default 128).
	Sample ddpm.SampleOptions // The sampler; batch i uses Sample.Seed + its first sample's index.
	// Log receives progress lines (nil: none).
	Log io.Writer
}

// CanMeasure says, before anything is drawn, whether n samples of
// size x size x channels images can be measured with the classifier: the
// image shape must be the classifier's, and n must exceed the largest
// neighbourhood of precision, recall, density and coverage.
func (c *Classifier) CanMeasure(n, size, channels int) error {
	if cc := c.Config; cc.ImageSize != size || cc.Channels != channels {
		return fmt.Errorf("the classifier takes %dx%dx%d images but the model makes %dx%dx%d (sample quality is measured for MNIST-shaped models)",
			cc.ImageSize, cc.ImageSize, cc.Channels, size, size, channels)
	}
	if k := max(PrecisionRecallK, DensityCoverageK); n <= k {
		return fmt.Errorf("%d samples: precision, recall, density and coverage need more than %d samples (their neighbourhoods hold up to %d)", n, k, k)
	}
	return nil
}

// SampleQuality draws o.N samples of m, quantises them to 8 bits as a saved
// image would be, and measures them against ref in the classifier's
// features. It returns the report and the quantised samples (NHWC, in
// [-1, 1]).
func SampleQuality(b backends.Backend, m Model, c *Classifier, ref *Reference, size, channels int, o QualityOptions) (*QualityReport, []float32, error) {
	if err := c.CanMeasure(o.N, size, channels); err != nil {
		return nil, nil, err
	}
	if o.Batch <= 0 {
		o.Batch = 128
	}
	per := size * size * channels
	s := m.Sampler(b)
	start := time.Now()
	pixels := make([]float32, 0, o.N*per)
	for b0 := 0; b0 < o.N; b0 += o.Batch {
		n := min(o.Batch, o.N-b0)
		so := o.Sample
		so.Seed = o.Sample.Seed + int64(b0)
		if o.Log != nil {
			so.Progress = func(done, total int) {
				if done%50 == 0 || done == total {
					fmt.Fprintf(o.Log, "\reval: samples %d-%d of %d, step %d/%d", b0+1, b0+n, o.N, done, total)
				}
			}
		}
		res, err := s.Sample([]int{n, size, size, channels}, so)
		if err != nil {
			return nil, nil, err
		}
		_ = res.Images.ConstFlatData(func(f any) { pixels = append(pixels, f.([]float32)...) })
	}
	if o.Log != nil {
		fmt.Fprintln(o.Log)
	}
	seconds := time.Since(start).Seconds()
	Quantize(pixels)
	pred, err := c.PredictFloat(pixels, o.N)
	if err != nil {
		return nil, nil, err
	}
	q := &QualityReport{ClassifierAccuracy: c.Config.TestAccuracy, SampleSeconds: seconds, Sampler: o.Sample.Describe(s.Diffusion.Schedule.T),
		Description: "samples against the test set in the features of an MNIST classifier: Frechet distance to all test digits' statistics (lower is better); precision and recall, k=3, against as many test digits (higher is better); mean entropy of p(y|x) in nats (lower: more recognisable) and exp(H(y) - H(y|x)), between 1 and 10 (higher is better)"}
	if q.Samples, err = ref.Compare(pred); err != nil {
		return nil, nil, err
	}
	return q, pixels, nil
}

// MeasureBaselines measures, against ref, n real training images and n
// images of uniform noise drawn with seed; and, when test has at least 2n
// images, n test images held out from it against a reference of the others
// (HoldOut).
//
// The held-out test images are the floor of a model's numbers at this n;
// the training images are not: the classifier was trained on them, and its
// features of them lie farther from the test images' than the features of
// unseen digits do (on MNIST at n = 1000, Fréchet distance 7.7 against 4.9),
// so samples of a good model can score below them.
func MeasureBaselines(c *Classifier, ref *Reference, train, test *data.Images, n int, seed int64) (*Baselines, error) {
	if train.N < n {
		return nil, fmt.Errorf("the baselines need %d training images; the training set has %d", n, train.N)
	}
	bl := &Baselines{}
	if test.N >= 2*n {
		held, rest, err := HoldOut(test, n)
		if err != nil {
			return nil, err
		}
		hp, err := c.Predict(held)
		if err != nil {
			return nil, err
		}
		restRef, err := TestReference(c, rest, n)
		if err != nil {
			return nil, err
		}
		q, err := restRef.Compare(hp)
		if err != nil {
			return nil, err
		}
		bl.HeldOut = &q
	}
	tp, err := c.Predict(train.Subset(n))
	if err != nil {
		return nil, err
	}
	if bl.TrainVsTest, err = ref.Compare(tp); err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x401))
	noise := make([]float32, n*train.H*train.W*train.C)
	for i := range noise {
		noise[i] = float32(rng.IntN(256))/127.5 - 1
	}
	np, err := c.PredictFloat(noise, n)
	if err != nil {
		return nil, err
	}
	if bl.Noise, err = ref.Compare(np); err != nil {
		return nil, err
	}
	return bl, nil
}
