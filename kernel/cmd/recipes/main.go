// Command recipes prints the recipe A/B of scripts/recipes.sh
// (results/recipes) as the Markdown table of docs/recipes.md.
//
//	go run ./kernel/cmd/recipes [-dir results/recipes]
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/diffusion-go/ddpm/kernel"
)

func main() {
	dir := flag.String("dir", "results/recipes", "folder of the A/B's reports and metrics")
	flag.Parse()
	rs, err := kernel.ReadRecipes(*dir)
	if err == nil {
		var table string
		if table, err = kernel.RecipeTable(rs); err == nil {
			fmt.Println(table)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "recipes:", err)
		os.Exit(1)
	}
}
