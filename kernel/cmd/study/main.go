// Command study prints the results of scripts/study.sh (results/study) as
// the Markdown tables of docs/study.md and draws its figures.
//
//	go run ./kernel/cmd/study [-dir results/study] [-figures figures]
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/diffusion-go/ddpm/kernel"
)

func main() {
	dir := flag.String("dir", "results/study", "folder of the study's JSON reports")
	figs := flag.String("figures", "figures", "folder for study_tradeoff.png, and study_ddim.png, study_curves.png and study_loss.png when their data are there (empty: none)")
	flag.Parse()
	if err := run(*dir, *figs); err != nil {
		fmt.Fprintln(os.Stderr, "study:", err)
		os.Exit(1)
	}
}

func run(dir, figs string) error {
	s, err := kernel.ReadStudy(dir)
	if err != nil {
		return err
	}
	fmt.Println(s.Table())
	if len(s.DDIM) > 0 {
		fmt.Println()
		fmt.Println(s.DDIMTable())
	}
	for _, r := range s.Runs {
		if len(r.Curve) > 0 {
			fmt.Printf("\n%s, bits/dim of the kept checkpoints (%d test digits, %d strata):\n", r.Name, r.Curve[0].Images, r.Curve[0].Strata)
			for _, p := range r.Curve {
				fmt.Printf("  step %6d: %.3f ± %.3f\n", p.Step, p.BPD, p.StdErr)
			}
		}
	}
	if t := s.Test10k; t != nil && t.BPD != nil {
		fmt.Printf("\n%s on all %d test digits: %.3f ± %.3f bits/dim (%d strata) in %.0f s\n", t.Checkpoint, t.BPD.Images, t.BPD.BitsPerDim, t.BPD.StdErr, t.BPD.Strata, t.BPD.Seconds)
	}
	if fc := s.FullChain; fc != nil && fc.BPD != nil {
		fmt.Printf("\nfull chain (%d terms) on %d test digits: %.3f ± %.3f bits/dim (prior %.2g, decoder L_0 %.3f) in %.0f s\n",
			len(fc.BPD.TermsPerT), fc.BPD.Images, fc.BPD.BitsPerDim, fc.BPD.StdErr, fc.BPD.Prior, fc.BPD.Decoder, fc.BPD.Seconds)
	}
	if figs == "" {
		return nil
	}
	charts := map[string]func() ([]byte, error){"study_tradeoff.png": s.TradeoffChart}
	if len(s.DDIM) > 0 {
		charts["study_ddim.png"] = s.DDIMChart
	}
	if len(s.Losses) > 0 {
		charts["study_loss.png"] = func() ([]byte, error) { return s.LossChart(10) }
	}
	for _, r := range s.Runs {
		if len(r.Curve) > 0 {
			charts["study_curves.png"] = s.CurveChart
		}
	}
	for name, draw := range charts {
		png, err := draw()
		if err != nil {
			return err
		}
		if err := kernel.WriteFile(filepath.Join(figs, name), png); err != nil {
			return err
		}
	}
	return nil
}
