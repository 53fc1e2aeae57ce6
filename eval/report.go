package eval

import "encoding/json"

// Report is the JSON output of ddpm eval.
type Report struct {
	Checkpoint string `json:"checkpoint"`
	Step       int64  `json:"step"`
	Backend    string `json:"backend"`
	EMA        bool   `json:"ema"`
	// Precision of the network's products (float32 unless -precision).
	Precision string `json:"precision,omitempty"`
	// Variance is the reverse variance the model was measured with (the
	// training's, unless the command's -variance exchanged a fixed one).
	Variance string `json:"variance,omitempty"`
	// Config is the training configuration of the model measured (the
	// train.Config stored in its checkpoint), so a report says what it is of.
	Config  json.RawMessage `json:"config,omitempty"`
	BPD     *BPDReport      `json:"bpd,omitempty"`
	Quality *QualityReport  `json:"sample_quality,omitempty"`
}

// BPDReport is the likelihood part of a Report.
type BPDReport struct {
	Images      int       `json:"images"`
	BitsPerDim  float64   `json:"bits_per_dim"`
	StdErr      float64   `json:"bits_per_dim_stderr"`            // Standard error over images (and, with strata, timesteps).
	Strata      int       `json:"strata"`                         // 0: the full chain of T terms.
	Prior       float64   `json:"prior_bits_per_dim"`             // L_T
	Decoder     float64   `json:"decoder_bits_per_dim,omitempty"` // L_0
	TermsPerT   []float64 `json:"vb_terms_per_t,omitempty"`       // mean L_t, t = 0..T-1 (full chain only)
	MSEPerT     []float64 `json:"eps_mse_per_t,omitempty"`
	X0MSEPerT   []float64 `json:"x0_mse_per_t,omitempty"`
	Seconds     float64   `json:"seconds"`
	ClipX0      bool      `json:"clip_x0"`
	Description string    `json:"description"`
}

// QualityReport is the sample-quality part of a Report.
type QualityReport struct {
	Classifier         string     `json:"classifier"`
	ClassifierAccuracy float64    `json:"classifier_test_accuracy"`
	Sampler            string     `json:"sampler"`
	SampleSeconds      float64    `json:"sample_seconds"`
	Samples            Quality    `json:"samples"`
	Baselines          *Baselines `json:"baselines,omitempty"`
	Description        string     `json:"description"`
}

// Baselines are the sample-quality numbers of real images and of noise.
type Baselines struct {
	TrainVsTest Quality `json:"train_vs_test"` // As many training images as samples.
	Noise       Quality `json:"uniform_noise"` // As many images of uniform noise.
	// HeldOut is as many test images, spread evenly over the test set,
	// against a reference of the other test images: real data the
	// classifier was not trained on, the floor a model can reach at this N
	// (nil when the test set has fewer than twice as many images as samples).
	HeldOut *Quality `json:"held_out_test,omitempty"`
}

// NamedQuality is one baseline of a table, by name.
type NamedQuality struct {
	Name    string
	Quality Quality
}

// Rows lists the baselines in the order tables show them: the held-out test
// digits (the floor) when measured, the training digits, the noise.
func (b *Baselines) Rows() []NamedQuality {
	var rows []NamedQuality
	if b.HeldOut != nil {
		rows = append(rows, NamedQuality{"held-out test digits", *b.HeldOut})
	}
	return append(rows, NamedQuality{"real training digits", b.TrainVsTest}, NamedQuality{"uniform noise", b.Noise})
}
