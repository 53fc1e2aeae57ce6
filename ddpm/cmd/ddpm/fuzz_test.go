package main

import (
	"io"
	"strings"
	"testing"
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
