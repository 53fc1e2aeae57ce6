package main

import (
	"testing"

	"github.com/diffusion-go/ddpm/internal/testxla"
)

// TestMain: this package's tests mostly compile graphs (testxla.Main).
func TestMain(m *testing.M) { testxla.Main(m) }
