package pretrained

import (
	"slices"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/backend"
)

// TestShippedModel: the embedded file matches its pinned SHA-256, is a model
// file with its provenance (steps, images seen, the command that trained
// it), and samples MNIST-like images: digits are mostly black background, so
// most pixels of 4 samples lie near -1, which noise or an untrained network
// does not give. A file whose bytes differ from the pin is refused.
func TestShippedModel(t *testing.T) {
	tm, err := MNIST()
	if err != nil {
		t.Fatal(err)
	}
	p, err := MNISTProvenance()
	if err != nil {
		t.Fatal(err)
	}
	if p.Steps != tm.Step || p.ImagesSeen != p.Steps*int64(tm.Config.BatchSize) || !strings.Contains(p.Command, "ddpm train") {
		t.Errorf("provenance %+v does not describe the %d-step model", p, tm.Step)
	}
	res, err := tm.Sampler(backend.MustNew()).Sample([]int{4, 28, 28, 1}, ddpm.SampleOptions{Method: ddpm.DPMSolver, Steps: "10", Seed: 1, ClipX0: true})
	if err != nil {
		t.Fatal(err)
	}
	px := res.Images.Value().([][][][]float32)
	dark, total := 0, 0
	for _, img := range px {
		for _, row := range img {
			for _, v := range row {
				total++
				if v[0] < -0.9 {
					dark++
				}
			}
		}
	}
	// MNIST digits: about 80% of pixels are background (the mean of the
	// training set is 0.13 on [0, 1]); pure noise would give almost none.
	if frac := float64(dark) / float64(total); frac < 0.6 {
		t.Errorf("%.0f%% of sampled pixels are background; digits have about 80%%", 100*frac)
	}

	bad := slices.Clone(mnistFile)
	bad[len(bad)/2] ^= 1
	if _, err := decodeChecked(bad, MNISTSHA256, MNISTName); err == nil || !strings.Contains(err.Error(), "was replaced without updating MNISTSHA256") {
		t.Errorf("a changed file: %v", err)
	}
}
