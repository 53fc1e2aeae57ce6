// Command variance prints what a model with a learned reverse variance
// (L_hybrid, learned-range) does at the first timesteps, where the bound's
// decoder term L_0 is decided: for test digits noised to t, the network's
// variance output v (log sigma^2 = frac log beta_t + (1 - frac) log
// betatilde_t, frac = (v + 1) / 2, so v in [-1, 1] stays inside the range
// and anything else extrapolates beyond it), the reverse standard deviation
// sigma, and the bound's term L_t, with the pixels split into the background
// (exactly black, the edge bin of the 256 levels) and the rest. Quantiles are
// min, 10%, median, 90%, max.
//
//	go run ./kernel/cmd/variance [-n 64] [-t 0,1,10] CHECKPOINT...
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/diffusion-go/ddpm/data"
	"github.com/diffusion-go/ddpm/train"
	G "github.com/gomlx/gomlx/pkg/core/graph"
	"github.com/gomlx/gomlx/pkg/core/tensors"
	"github.com/gomlx/gomlx/pkg/ml/context"
)

func main() {
	n := flag.Int("n", 64, "test digits (the first n)")
	steps := flag.String("t", "0,1,10", "timesteps, comma-separated")
	seed := flag.Int64("seed", 1, "seed of the noise")
	flag.Parse()
	if err := run(*n, *steps, *seed, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "variance:", err)
		os.Exit(1)
	}
}

func run(n int, steps string, seed int64, paths []string) error {
	if len(paths) == 0 {
		return fmt.Errorf("name at least one checkpoint")
	}
	var ts []int32
	for _, s := range strings.Split(steps, ",") {
		t, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || t < 0 {
			return fmt.Errorf("-t: %q is not a timestep", s)
		}
		ts = append(ts, int32(t))
	}
	b, err := backend.New()
	if err != nil {
		return err
	}
	test, err := data.LoadMNIST("", data.Test)
	if err != nil {
		return err
	}
	if n < 1 || n > test.N {
		return fmt.Errorf("-n %d: want 1 to %d", n, test.N)
	}
	test = test.Subset(n)
	pixels := test.Float()
	x0 := tensors.FromFlatDataAndDimensions(pixels, n, test.H, test.W, test.C)
	for _, path := range paths {
		tm, err := train.LoadTrained(path, true)
		if err != nil {
			return err
		}
		d := tm.Diffusion
		if !d.Variance.Learned() {
			return fmt.Errorf("%s: variance %v is not learned", path, d.Variance)
		}
		exec, err := context.NewExec(b, train.ModelContext(tm.Context).Reuse(), func(ctx *context.Context, x0, t, rng *G.Node) []*G.Node {
			_, noise := G.RandomNormal(rng, x0.Shape())
			xt := d.QSample(x0, t, noise)
			out := d.Model(ctx, tm.Model.Denoise, xt, t)
			_, v := d.SplitOutput(out, xt)
			p := d.PMeanVariance(out, xt, t, true)
			return []*G.Node{G.ConvertDType(v, x0.DType()), G.ConvertDType(p.LogVariance, x0.DType()), d.VLBTerm(p, x0, xt, t)}
		})
		if err != nil {
			return err
		}
		fmt.Printf("%s (step %d, EMA weights), %d test digits:\n", path, tm.Step, n)
		for _, t := range ts {
			if int(t) >= d.Schedule.T {
				return fmt.Errorf("-t %d: the schedule has T = %d", t, d.Schedule.T)
			}
			rng, err := G.RNGStateFromSeed(seed)
			if err != nil {
				return err
			}
			out, err := exec.Exec(x0, slices.Repeat([]int32{t}, n), rng)
			if err != nil {
				return err
			}
			v, logVar, vb := tensors.MustCopyFlatData[float32](out[0]), tensors.MustCopyFlatData[float32](out[1]), tensors.MustCopyFlatData[float32](out[2])
			var vBack, vRest, sBack, sRest []float64
			for i, x := range pixels {
				sigma := math.Exp(0.5 * float64(logVar[i]))
				if x <= -1 {
					vBack, sBack = append(vBack, float64(v[i])), append(sBack, sigma)
				} else {
					vRest, sRest = append(vRest, float64(v[i])), append(sRest, sigma)
				}
			}
			lt := 0.0
			for _, x := range vb {
				lt += float64(x) / float64(n)
			}
			fmt.Printf("  t=%d: L_t %.4f bits/dim\n", t, lt)
			fmt.Printf("    background (%4.1f%% of pixels): v %s  sigma %s\n", 100*float64(len(vBack))/float64(len(pixels)), quantiles(vBack), quantiles(sBack))
			fmt.Printf("    other pixels:                v %s  sigma %s\n", quantiles(vRest), quantiles(sRest))
		}
		exec.Finalize()
	}
	return nil
}

// quantiles formats min, 10%, median, 90% and max of xs.
func quantiles(xs []float64) string {
	if len(xs) == 0 {
		return "(none)"
	}
	slices.Sort(xs)
	k := len(xs) - 1
	return fmt.Sprintf("[%.3g %.3g %.3g %.3g %.3g]", xs[0], xs[k/10], xs[k/2], xs[9*k/10], xs[k])
}
