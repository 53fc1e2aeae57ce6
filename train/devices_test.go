package train

import (
	gocontext "context"
	"fmt"
	"math"
	"os"
	"strings"
	"testing"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/gomlx/gomlx/backends"
)

// runOn trains the tiny preset on synthetic images in dir up to cfg.Steps on
// n devices and returns its variables (weights, Adam state, EMA) and the
// losses of its steps.
func runOn(t *testing.T, b backends.Backend, cfg Config, dir string, n int) (map[string][]float32, []float64) {
	t.Helper()
	tr, err := New(b, cfg, dir, synthetic(20))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	if err := tr.SetDevices(n); err != nil {
		t.Fatal(err)
	}
	var losses []float64
	if err := tr.Run(gocontext.Background(), 1, func(st StepStats) { losses = append(losses, st.Loss) }); err != nil {
		t.Fatal(err)
	}
	return weights(t, tr), losses
}

// maxDiff returns the largest absolute difference between two runs' variables.
func maxDiff(t *testing.T, a, b map[string][]float32) (float64, string) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%d variables against %d", len(a), len(b))
	}
	worst, where := 0.0, ""
	for name, x := range a {
		y := b[name]
		if len(y) != len(x) {
			t.Fatalf("variable %s: %d values against %d", name, len(x), len(y))
		}
		for i := range x {
			if d := math.Abs(float64(x[i]) - float64(y[i])); d > worst || math.IsNaN(d) {
				worst, where = d, fmt.Sprintf("%s[%d]", name, i)
			}
		}
	}
	return worst, where
}

// devicesTol bounds the difference between an N-device and a one-device run
// after a few steps. The two compute the same graph on the same global batch
// with the same noise; only the order of the sums differs (each device sums
// its share of the batch, then the all-reduce adds the shares), which moves
// the gradients by float32 rounding, about 1e-7 of their size. Adam divides
// the first moment by the root of the second, so each step moves a weight by
// at most about the learning rate (2e-4 here) and a rounding difference
// moves that step by a like fraction; 1e-6 leaves a margin of more than ten
// over what that allows in 4 steps, and is far below a one-step change.
const devicesTol = 1e-6

// TestDevicesMatchOneDevice: N-device training computes the one-device step
// on the same global batch, and a checkpoint does not depend on the device
// count. Four steps on one device are the reference; 2 steps on 2 devices
// continued for 2 on 4, and the same 2 steps on 2 devices continued on one,
// must end with every weight, Adam moment and EMA within devicesTol of it,
// and the 2-device steps must have its losses.
func TestDevicesMatchOneDevice(t *testing.T) {
	b := backend.MustNew()
	if b.NumDevices() < 2 {
		t.Skipf("the backend %s has one device", b.Name())
	}
	cfg := tinyConfig(t)
	cfg.Steps, cfg.CheckpointEvery, cfg.KeepCheckpoints = 4, 2, 0
	want, wantLoss := runOn(t, b, cfg, t.TempDir(), 1)

	half := cfg
	half.Steps = 2
	dir, fork := t.TempDir(), t.TempDir()
	_, loss := runOn(t, b, half, dir, 2)
	for i := range loss {
		if math.Abs(loss[i]-wantLoss[i]) > 1e-6*math.Max(1, wantLoss[i]) {
			t.Errorf("2 devices, step %d: loss %.9g, one device %.9g", i+1, loss[i], wantLoss[i])
		}
	}
	if err := os.CopyFS(fork, os.DirFS(dir)); err != nil {
		t.Fatal(err)
	}
	more := min(4, b.NumDevices())
	for _, c := range []struct {
		dir string
		n   int
	}{{dir, more}, {fork, 1}} {
		got, _ := runOn(t, b, cfg, c.dir, c.n)
		d, where := maxDiff(t, want, got)
		t.Logf("2 steps on 2 devices, 2 on %d: largest difference from 4 steps on one device %.3g (%s)", c.n, d, where)
		if !(d <= devicesTol) {
			t.Errorf("2 steps on 2 devices, 2 on %d: %s differs from 4 steps on one device by %.3g > %g", c.n, where, d, devicesTol)
		}
	}
}

// TestDevicesErrors: a device count the backend does not have, or that does
// not divide the batch, is refused with the numbers that matter.
func TestDevicesErrors(t *testing.T) {
	b := backend.MustNew()
	tr, err := New(b, tinyConfig(t), t.TempDir(), synthetic(20))
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Close()
	have := b.NumDevices()
	for _, c := range []struct {
		n    int
		want string
	}{
		{0, "must be at least 1"},
		{have + 1, fmt.Sprintf("%d devices asked for, but the backend (%s) has %d", have+1, b.Name(), have)},
	} {
		if err := tr.SetDevices(c.n); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SetDevices(%d): err = %v, want %q", c.n, err, c.want)
		}
	}
	if have >= 3 { // the tiny preset's batch is 8
		if err := tr.SetDevices(3); err == nil || !strings.Contains(err.Error(), "batch size 8 is not divisible by 3 devices") {
			t.Errorf("SetDevices(3) with batch 8: err = %v", err)
		}
	}
	if err := tr.SetDevices(1); err != nil {
		t.Errorf("SetDevices(1): %v", err)
	}
	if have < 2 {
		return
	}
	// Once the step is compiled, the device count is fixed.
	if _, err := tr.TrainStep(); err != nil {
		t.Fatal(err)
	}
	if err := tr.SetDevices(2); err == nil || !strings.Contains(err.Error(), "set the devices before the first step") {
		t.Errorf("SetDevices(2) after a step: err = %v", err)
	}
	if err := tr.SetDevices(1); err != nil {
		t.Errorf("SetDevices(1) after a step on one device: %v", err)
	}
}
