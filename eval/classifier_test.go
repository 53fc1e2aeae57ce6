package eval

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/diffusion-go/ddpm/data"
)

// stripes makes 8x8 grey images of two classes: a bright left half (0) or a
// bright right half (1), with noise.
func stripes(n int, seed uint64) *data.Images {
	rng := rand.New(rand.NewPCG(seed, 9))
	im := &data.Images{N: n, H: 8, W: 8, C: 1, Pixels: make([]uint8, n*64), Labels: make([]uint8, n)}
	for i := range n {
		label := rng.IntN(2)
		im.Labels[i] = uint8(label)
		for y := range 8 {
			for x := range 8 {
				v := 40 + rng.IntN(80)
				if (x < 4) == (label == 0) {
					v += 120
				}
				im.Pixels[i*64+y*8+x] = uint8(v)
			}
		}
	}
	return im
}

func stripesConfig() ClassifierConfig {
	cfg := DefaultClassifierConfig()
	cfg.ImageSize, cfg.Classes, cfg.Features, cfg.Epochs, cfg.BatchSize, cfg.Dataset = 8, 2, 16, 2, 32, "stripes"
	return cfg
}

// The classifier learns an easy task, and a saved classifier predicts
// exactly what the trained one does.
func TestClassifierTrainSaveLoad(t *testing.T) {
	b := backend.MustNew()
	if strings.HasPrefix(b.Name(), "go") {
		t.Skip("training needs the XLA backend (the pure-Go backend of GoMLX v0.26.0 lacks the gradient of max pooling)")
	}
	cfg := stripesConfig()
	steps := 0
	c, err := TrainClassifier(b, cfg, stripes(640, 1), stripes(200, 2), func(step, total int, loss float64) { steps = step })
	if err != nil {
		t.Fatal(err)
	}
	if steps != 2*640/32 {
		t.Errorf("progress saw %d steps, want %d", steps, 2*640/32)
	}
	if c.Config.TestAccuracy < 0.95 {
		t.Errorf("test accuracy %.3f on an easy task, want >= 0.95", c.Config.TestAccuracy)
	}
	path := filepath.Join(t.TempDir(), "sub", "classifier.ddpm") // Save creates the folder.
	if err := c.Save(path); err != nil {
		t.Fatal(err)
	}
	c2, err := LoadClassifier(b, path)
	if err != nil {
		t.Fatal(err)
	}
	if c2.Config != c.Config {
		t.Errorf("config after load %+v, want %+v", c2.Config, c.Config)
	}
	test := stripes(300, 3) // Not a multiple of the inference batch: padding is dropped.
	p1, err := c.Predict(test)
	if err != nil {
		t.Fatal(err)
	}
	p2, err := c2.Predict(test)
	if err != nil {
		t.Fatal(err)
	}
	if p1.N != 300 || len(p1.Features) != 300*16 || len(p1.Probs) != 300*2 {
		t.Fatalf("predictions: N %d, %d features, %d probabilities", p1.N, len(p1.Features), len(p1.Probs))
	}
	if !slices.Equal(p1.Features, p2.Features) || !slices.Equal(p1.Probs, p2.Probs) {
		t.Error("the loaded classifier predicts differently from the saved one")
	}

	// Wrong image size, damaged file, not a classifier.
	if _, err := c.Predict(&data.Images{N: 1, H: 28, W: 28, C: 1, Pixels: make([]uint8, 784)}); err == nil || !strings.Contains(err.Error(), "28x28x1") {
		t.Errorf("28x28 images into an 8x8 classifier: %v", err)
	}
	raw, _ := os.ReadFile(path)
	raw[len(raw)-1] ^= 1
	bad := filepath.Join(t.TempDir(), "bad.ddpm")
	os.WriteFile(bad, raw, 0o644)
	if _, err := LoadClassifier(b, bad); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Errorf("damaged classifier file: %v", err)
	}
}

func TestClassifierConfigValidate(t *testing.T) {
	for _, mod := range []func(*ClassifierConfig){
		func(c *ClassifierConfig) { c.ImageSize = 30 },
		func(c *ClassifierConfig) { c.Classes = 1 },
		func(c *ClassifierConfig) { c.Dropout = 1 },
		func(c *ClassifierConfig) { c.LearningRate = 0 },
		func(c *ClassifierConfig) { c.Kind = "ddpm" },
	} {
		cfg := DefaultClassifierConfig()
		mod(&cfg)
		if err := cfg.Validate(); err == nil {
			t.Errorf("%+v: want an error", cfg)
		}
	}
	if err := DefaultClassifierConfig().Validate(); err != nil {
		t.Error(err)
	}
}
