package main

import (
	"io"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/train"
)

// FuzzTrainFlags: any command line given to ddpm train parses to a valid
// configuration or to an error; it never panics.
func FuzzTrainFlags(f *testing.F) {
	for _, s := range []string{
		"-dir runs/x",
		"-dir d -preset cifar10 -steps 10 -batch 4 -lr 2e-4",
		"-dir d -loss hybrid -variance learned-range -timesteps loss-second-moment",
		"-dir d -channel-mult 1,2,2,2 -attn 16 -groups 32 -channels 128",
		"-dir d -attn none -res-blocks 2 -dropout 0.1 -T 4000 -schedule cosine",
		"-dir d -dropout NaN", "-dir d -lr Inf", "-dir d -batch -1", "-dir d -channels 99999999999",
		"-dir d -T 5", "-dir d -channel-mult ,", "-dir d -prediction v -ema 0.9999", "-preset nope -dir d", "stray",
	} {
		f.Add(s)
	}
	flagOutput = io.Discard
	f.Fuzz(func(t *testing.T, line string) {
		a, err := parseTrainArgs(strings.Fields(line))
		if err != nil {
			return
		}
		if err := a.cfg.Validate(); err != nil {
			t.Fatalf("%q parsed to an invalid configuration: %v", line, err)
		}
		if a.dir == "" {
			t.Fatalf("%q parsed without a run folder", line)
		}
	})
}

// TestTrainFlagsOverPreset: the defaults shown in -h are the mnist preset's,
// but a flag that is not given keeps the chosen preset's value, and one that
// is given wins (even when it equals the mnist default).
func TestTrainFlagsOverPreset(t *testing.T) {
	cifar, err := train.DefaultConfig("cifar10")
	if err != nil {
		t.Fatal(err)
	}
	a, err := parseTrainArgs([]string{"-dir", "d", "-preset", "cifar10"})
	if err != nil {
		t.Fatal(err)
	}
	if a.cfg.BatchSize != cifar.BatchSize || a.cfg.LearningRate != cifar.LearningRate || a.cfg.EMADecay != cifar.EMADecay ||
		a.cfg.Model.Channels != cifar.Model.Channels || a.cfg.Model.Dropout != cifar.Model.Dropout || a.dataset != "cifar10" {
		t.Errorf("-preset cifar10 alone: batch %d, lr %g, ema %g, ch %d, dropout %g, data %s; want the preset's %d, %g, %g, %d, %g, cifar10",
			a.cfg.BatchSize, a.cfg.LearningRate, a.cfg.EMADecay, a.cfg.Model.Channels, a.cfg.Model.Dropout, a.dataset,
			cifar.BatchSize, cifar.LearningRate, cifar.EMADecay, cifar.Model.Channels, cifar.Model.Dropout)
	}
	a, err = parseTrainArgs([]string{"-dir", "d", "-preset", "cifar10", "-batch", "64", "-dropout", "0", "-attn", "none", "-loss", "hybrid", "-variance", "learned-range"})
	if err != nil {
		t.Fatal(err)
	}
	if a.cfg.BatchSize != 64 || a.cfg.Model.Dropout != 0 || a.cfg.Model.AttnResolutions != nil || a.cfg.Loss != ddpm.Hybrid || a.cfg.Model.OutChannels != 6 {
		t.Errorf("given flags: batch %d, dropout %g, attn %v, loss %v, out channels %d; want 64, 0, none, hybrid, 6",
			a.cfg.BatchSize, a.cfg.Model.Dropout, a.cfg.Model.AttnResolutions, a.cfg.Loss, a.cfg.Model.OutChannels)
	}
	if _, err := parseTrainArgs([]string{"-dir", "d", "-lr", "0"}); err == nil {
		t.Error("-lr 0: no error (it is a learning rate, not a request for the preset's)")
	}
}
