package ddpm

import "testing"

// FuzzParsers: configuration strings from flags and JSON give a value or an
// error, never a panic; SpacedTimesteps only returns valid, increasing steps.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{"linear", "ddim50", "10,15,20", "eps", "learned-range", "hybrid", "", ",", "ddim", "-3", "99999999999999999999"} {
		f.Add(s, 1000)
	}
	f.Fuzz(func(t *testing.T, s string, T int) {
		_, _ = ParseBetaSchedule(s)
		_, _ = ParsePrediction(s)
		_, _ = ParseVarianceType(s)
		_, _ = ParseLossType(s)
		_, _ = ParseMethod(s)
		_, _ = ParseTimestepSamplerKind(s)
		if T > 1<<16 {
			T = 1 << 16
		}
		steps, err := SpacedTimesteps(T, s)
		if err != nil {
			return
		}
		for i, st := range steps {
			if st < 0 || st >= T || (i > 0 && st <= steps[i-1]) {
				t.Fatalf("SpacedTimesteps(%d, %q) = %v: not increasing within [0, T)", T, s, steps)
			}
		}
	})
}
