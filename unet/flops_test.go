package unet

import (
	"math"
	"testing"
)

// TestForwardFLOPs checks the count against PyTorch's FlopCounterMode on the
// bench's reference model (scripts/bench/torch_ddpm.py, the same layers):
// 24.3 GFLOP for the mnist preset's forward pass at batch 64 and 72.9 for
// its training step, 4,777 GFLOP for a cifar10 training step at batch 128,
// and against a network small enough to count by hand.
func TestForwardFLOPs(t *testing.T) {
	for _, tc := range []struct {
		preset string
		batch  int
		passes float64
		want   float64 // GFLOP, as PyTorch counted them (to the digits recorded)
		tol    float64
	}{
		{"mnist", 64, 1, 24.3, 0.05},
	} {
		c, err := Preset(tc.preset)
		if err != nil {
			t.Fatal(err)
		}
		got := tc.passes * float64(c.ForwardFLOPs(tc.batch)) / 1e9
		if math.Abs(got-tc.want) > tc.tol {
			t.Errorf("%s at batch %d, %g passes: %.2f GFLOP, PyTorch counted %g", tc.preset, tc.batch, tc.passes, got, tc.want)
		}
	}

	for _, tc := range []struct {
		preset string
		batch  int
		want   float64 // GFLOP of a training step, as PyTorch counted them
		tol    float64
	}{
		{"mnist", 64, 72.9, 0.05},
		{"cifar10", 128, 4777, 0.5},
	} {
		c, err := Preset(tc.preset)
		if err != nil {
			t.Fatal(err)
		}
		if got := float64(c.TrainFLOPs(tc.batch)) / 1e9; math.Abs(got-tc.want) > tc.tol {
			t.Errorf("%s training step at batch %d: %.2f GFLOP, PyTorch counted %g", tc.preset, tc.batch, got, tc.want)
		}
	}

	// One stage, one block, no attention, 4x4 images, 1 -> 2 channels, batch 1:
	// temb MLP 2(2*8 + 8*8) = 160; conv_in 2*16*1*2*9 = 576; a block of 2 -> 2
	// channels: two 3x3 convolutions 2*16*2*2*9 = 1152 each and the timestep
	// projection 2*8*2 = 32, 2336; the down block and the middle's two: 3 of
	// them; the middle's attention 4*2*16*2*2 + 2*2*16*16*2 = 512 + 2048 =
	// 2560; two up blocks (4 -> 2 channels, with a 1x1 skip) 2*16*(4*2*9 +
	// 2*2*9 + 4*2) + 32 = 3744 each; conv_out 2*16*2*1*9 = 576.
	c := Config{ImageSize: 4, InChannels: 1, OutChannels: 1, Channels: 2, ChannelMult: []int{1}, NumResBlocks: 1, NumGroups: 1}
	if got, want := c.ForwardFLOPs(1), int64(160+576+3*2336+2560+2*3744+576); got != want {
		t.Errorf("hand-counted network: %d FLOPs, want %d", got, want)
	}
}
