package unet

import (
	"math"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/ddpm/backend"
)

// TestCIFAR10ParameterCount: the paper reports 35.7M parameters for its
// CIFAR-10 model.
func TestCIFAR10ParameterCount(t *testing.T) {
	c, err := Preset("cifar10")
	if err != nil {
		t.Fatal(err)
	}
	m, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	n, err := m.NumParameters(backend.MustNew())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("cifar10 preset: %d parameters", n)
	if math.Abs(float64(n)-35.7e6) > 0.01*35.7e6 {
		t.Errorf("cifar10 preset has %d parameters, want 35.7M within 1%%", n)
	}
}

func TestConfigValidation(t *testing.T) {
	base, _ := Preset("mnist")
	for _, tc := range []struct {
		name    string
		edit    func(c *Config)
		mention string
	}{
		{"odd stage size", func(c *Config) { c.ChannelMult = []int{1, 2, 2, 2} }, "cannot be halved"},
		{"groups", func(c *Config) { c.NumGroups = 5 }, "not divisible by 5 GroupNorm groups"},
		{"dropout", func(c *Config) { c.Dropout = 1 }, "dropout 1"},
		{"no stages", func(c *Config) { c.ChannelMult = nil }, "at least one ChannelMult"},
		{"odd channels", func(c *Config) { c.Channels, c.NumGroups = 33, 1 }, "must be even"},
	} {
		c := base
		tc.edit(&c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.mention) {
			t.Errorf("%s: err=%v, want one mentioning %q", tc.name, err, tc.mention)
		}
	}
	if _, err := Preset("imagenet"); err == nil || !strings.Contains(err.Error(), "cifar10, mnist, tiny") {
		t.Errorf("unknown preset: err=%v", err)
	}
}
