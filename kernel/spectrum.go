package kernel

import (
	"fmt"
	"math"
	"math/cmplx"

	"gonum.org/v1/gonum/dsp/fourier"
)

// RadialPowerSpectrum is the power spectrum of n grey images h x w (flat
// [n, h, w]), averaged over the images and over the frequencies of each
// integer radius r = round(sqrt(kx^2 + ky^2)), r = 0..min(h, w)/2. Power is
// |DFT|^2 / (h w), so white noise of variance s^2 has power s^2 at every
// frequency: the signal at radius r is visible through noise of variance
// s^2 where power[r] > s^2.
func RadialPowerSpectrum(pixels []float32, n, h, w int) ([]float64, error) {
	if n < 1 || h < 2 || w < 2 || len(pixels) != n*h*w {
		return nil, fmt.Errorf("power spectrum: %d values for %d images of %d x %d", len(pixels), n, h, w)
	}
	rows, cols := fourier.NewCmplxFFT(w), fourier.NewCmplxFFT(h)
	R := min(h, w) / 2
	power, count := make([]float64, R+1), make([]float64, R+1)
	img, line, col := make([]complex128, h*w), make([]complex128, w), make([]complex128, h)
	for i := range n {
		for j := range h * w {
			img[j] = complex(float64(pixels[i*h*w+j]), 0)
		}
		for y := range h {
			rows.Coefficients(line, img[y*w:(y+1)*w])
			copy(img[y*w:], line)
		}
		for x := range w {
			for y := range h {
				col[y] = img[y*w+x]
			}
			cols.Coefficients(col, col)
			for y := range h {
				ky, kx := y, x
				if ky > h/2 {
					ky -= h
				}
				if kx > w/2 {
					kx -= w
				}
				r := int(math.Round(math.Hypot(float64(kx), float64(ky))))
				if r <= R {
					a := cmplx.Abs(col[y])
					power[r] += a * a / float64(h*w)
					count[r]++
				}
			}
		}
	}
	for r := range power {
		power[r] /= count[r]
	}
	return power, nil
}
