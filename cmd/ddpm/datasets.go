package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/diffusion-go/ddpm/data"
	"github.com/diffusion-go/ddpm/unet"
)

// dataFlagHelp documents the -data values.
const dataFlagHelp = `training data: "mnist" (shipped in a Go module), "cifar10" (binary batches in -data-dir; -download fetches them), or "folder:PATH" (PNG/JPEG files, resized to the model's size)`

// defaultDataDir is where CIFAR-10 is kept unless -data-dir says otherwise.
func defaultDataDir() string {
	if d, err := os.UserCacheDir(); err == nil {
		return filepath.Join(d, "ddpm")
	}
	return filepath.Join(os.TempDir(), "ddpm")
}

// loadData reads a dataset split and checks it fits the model.
func loadData(spec string, split data.Split, m unet.Config, dataDir string, download bool, log io.Writer) (*data.Images, error) {
	var ds *data.Images
	var err error
	switch {
	case spec == "mnist":
		ds, err = data.LoadMNIST("", split)
	case spec == "cifar10":
		if download {
			if err := data.DownloadCIFAR10(dataDir, log); err != nil {
				return nil, err
			}
		}
		ds, err = data.LoadCIFAR10(dataDir, split)
	case strings.HasPrefix(spec, "folder:"):
		ds, err = data.LoadFolder(strings.TrimPrefix(spec, "folder:"), m.ImageSize, m.InChannels)
	default:
		return nil, fmt.Errorf("unknown -data %q: valid values are mnist, cifar10, folder:PATH", spec)
	}
	if err != nil {
		return nil, err
	}
	if (spec == "mnist" || spec == "cifar10") && ds.C == m.InChannels && ds.H != m.ImageSize {
		// A model of another size on a shipped dataset (the tiny preset on
		// MNIST): the images are resized as a folder's are.
		if ds, err = ds.Resized(m.ImageSize); err != nil {
			return nil, err
		}
		fmt.Fprintf(log, "-data %s: images resized to %dx%d for the model\n", spec, m.ImageSize, m.ImageSize)
	}
	if ds.H != m.ImageSize || ds.W != m.ImageSize || ds.C != m.InChannels {
		return nil, fmt.Errorf("-data %s has %dx%dx%d images but the model takes %dx%dx%d: pick the preset that matches (mnist: 28x28x1, cifar10: 32x32x3)",
			spec, ds.H, ds.W, ds.C, m.ImageSize, m.ImageSize, m.InChannels)
	}
	return ds, nil
}
