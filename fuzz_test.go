package ddpm

import (
	"fmt"
	"testing"
)

func roundTrip[V comparable](t *testing.T, s string, parse func(string) (V, error)) {
	v, err := parse(s)
	if err != nil {
		return
	}
	name := fmt.Sprint(v)
	back, err := parse(name)
	if err != nil || back != v {
		t.Fatalf("%q parses to %v, whose name %q parses to %v (%v)", s, v, name, back, err)
	}
}

// FuzzParsers: configuration strings from flags and JSON give a value or an
// error, never a panic, and parsed values round-trip through their names;
// SpacedTimesteps only returns valid, increasing steps.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{"linear", "ddim50", "10,15,20", "eps", "learned-range", "hybrid", "", ",", "ddim", "-3", "99999999999999999999"} {
		f.Add(s, 1000)
	}
	f.Fuzz(func(t *testing.T, s string, T int) {
		// A name that parses round-trips through String: the value a
		// configuration file records reads back as the same value.
		roundTrip(t, s, ParseBetaSchedule)
		roundTrip(t, s, ParsePrediction)
		roundTrip(t, s, ParseVarianceType)
		roundTrip(t, s, ParseLossType)
		roundTrip(t, s, ParseMethod)
		roundTrip(t, s, ParseSpacing)
		roundTrip(t, s, ParseTimestepSamplerKind)
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
