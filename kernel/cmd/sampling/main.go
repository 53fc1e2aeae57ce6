// Command sampling reads the sample-quality reports that scripts/sampling.sh
// writes (results/sampling), prints them as a markdown table with the
// comparisons the docs quote, and draws the quality-against-NFE chart.
//
//	go run ./kernel/cmd/sampling [-dir results/sampling] [-figures figures]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/diffusion-go/ddpm/kernel"
)

func main() {
	dir := flag.String("dir", "results/sampling", "folder of the reports")
	figures := flag.String("figures", "", "folder to write sampling_curve.png to (none when empty)")
	flag.Parse()
	c, err := kernel.ReadSamplingCurve(*dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, "sampling:", err)
		os.Exit(1)
	}
	fmt.Println(c.Table())
	for _, cmp := range [][2]string{{"dpm-solver++-sde/20", "ddpm/1000"}, {"dpm-solver++-sde/10", "ddim/50"}, {"dpm-solver++/20", "ddpm/1000"}, {"dpm-solver++/10", "ddim/50"}, {"dpm-solver++/50", "ddpm/1000"}, {"heun/19", "dpm-solver++/20"}} {
		a, b := parse(cmp[0]), parse(cmp[1])
		fa, sa, okA := c.Frechet(a.method, a.nfe)
		fb, sb, okB := c.Frechet(b.method, b.nfe)
		if okA && okB {
			fmt.Printf("- %s: Fréchet %.2f (seed spread ±%.2f) against %s: %.2f (±%.2f): ratio %.2f\n", cmp[0], fa, sa, cmp[1], fb, sb, fa/fb)
		}
	}
	if *figures != "" {
		png, err := c.Chart()
		if err == nil {
			err = kernel.WriteFile(filepath.Join(*figures, "sampling_curve.png"), png)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "sampling:", err)
			os.Exit(1)
		}
	}
}

type run struct {
	method string
	nfe    int
}

func parse(s string) run {
	var r run
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == '/' {
			r.method = s[:i]
			fmt.Sscan(s[i+1:], &r.nfe)
			break
		}
	}
	return r
}
