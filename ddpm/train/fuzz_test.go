package train

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// FuzzReadCheckpoint: arbitrary bytes as a checkpoint file give an error or
// a checkpoint whose tensors fit their shapes; never a panic.
func FuzzReadCheckpoint(f *testing.F) {
	dir := f.TempDir()
	path, err := WriteCheckpoint(dir, Header{Step: 3, Config: []byte(`{"preset":"tiny"}`)}, []Var{
		{Name: "/model/w", Trainable: true, Value: tensors.FromFlatDataAndDimensions([]float32{1, 2, 3, 4}, 2, 2)},
		{Name: "//#rngState", Value: tensors.FromFlatDataAndDimensions([]uint64{7, 8, 9}, 3)},
	})
	if err != nil {
		f.Fatal(err)
	}
	good, _ := os.ReadFile(path)
	f.Add(good)
	f.Add(good[:len(good)/2])
	f.Add([]byte("DDPMCKPT"))
	f.Fuzz(func(t *testing.T, b []byte) {
		p := filepath.Join(t.TempDir(), "ckpt-000000001.ddpm")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		ck, err := ReadCheckpoint(p)
		if err != nil {
			return
		}
		for _, v := range ck.Vars {
			if v.Value.Shape().Size() < 0 {
				t.Fatalf("variable %s has a bad shape", v.Name)
			}
		}
	})
}
