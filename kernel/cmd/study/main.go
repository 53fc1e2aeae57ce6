// Command study prints the results of scripts/study.sh (results/study) as
// the README's Markdown tables and draws its two figures.
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
	figs := flag.String("figures", "figures", "folder for study_tradeoff.png and study_ddim.png (empty: none)")
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
	fmt.Println()
	fmt.Println(s.DDIMTable())
	if fc := s.FullChain; fc != nil && fc.BPD != nil {
		fmt.Printf("\nfull chain (%d terms) on %d test digits: %.3f ± %.3f bits/dim (prior %.2g, decoder L_0 %.3f) in %.0f s\n",
			len(fc.BPD.TermsPerT), fc.BPD.Images, fc.BPD.BitsPerDim, fc.BPD.StdErr, fc.BPD.Prior, fc.BPD.Decoder, fc.BPD.Seconds)
	}
	if figs == "" {
		return nil
	}
	for name, draw := range map[string]func() ([]byte, error){"study_tradeoff.png": s.TradeoffChart, "study_ddim.png": s.DDIMChart} {
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
