package checkpoint

import (
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// FuzzReadCheckpoint: arbitrary bytes as a file give an error or a file
// whose tensors fit their shapes and whose names split into a scope and a
// name; a file that decodes encodes back to the same header and values
// (version 2), and never a panic.
func FuzzReadCheckpoint(f *testing.F) {
	good, err := Encode(Header{Kind: Training, Step: 3, Config: []byte(`{"preset":"tiny"}`)}, []Var{
		{Name: "/model/w", Trainable: true, Value: tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 4}, 2, 2)},
		{Name: "//#rngState", Value: tensors.FromFlatDataAndDimensions([]uint64{7, 8, 9}, 3)},
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("DDPMCKPT"))
	f.Add(craftedV1(f, "noslash"))
	f.Add(craftedV1(f, "/a//b/c"))
	f.Fuzz(func(t *testing.T, b []byte) {
		ck, err := Decode(b, "fuzz.ddpm")
		if err != nil {
			return
		}
		for _, v := range ck.Vars {
			if v.Value.Shape().Size() < 0 {
				t.Fatalf("variable %s has a bad shape", v.Name)
			}
			if scope, name := SplitName(v.Name); scope == "" || name == "" {
				t.Fatalf("variable %q splits into %q and %q", v.Name, scope, name)
			}
		}
		if ck.Version != Version {
			return
		}
		again, err := Encode(ck.Header, ck.Vars)
		if err != nil {
			t.Fatalf("a decoded file does not encode: %v", err)
		}
		ck2, err := Decode(again, "again.ddpm")
		if err != nil {
			t.Fatalf("a re-encoded file does not decode: %v", err)
		}
		if len(ck2.Vars) != len(ck.Vars) || ck2.Step != ck.Step || ck2.Kind != ck.Kind {
			t.Fatalf("round trip changed the file: %+v vs %+v", ck2.Header, ck.Header)
		}
	})
}
