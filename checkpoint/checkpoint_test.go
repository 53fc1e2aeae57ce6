package checkpoint

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/gomlx/gomlx/pkg/core/tensors"
)

func testVars() []Var {
	return []Var{
		{Name: "/model/conv/weights", Trainable: true, Value: tensors.FromFlatDataAndDimensions([]float32{1, -2, 3.5, 4}, 2, 2)},
		{Name: "/ema/model/conv/weights", Value: tensors.FromFlatDataAndDimensions([]float32{0.5, -1, 1.75, 2}, 2, 2)},
		{Name: "//#rngState", Value: tensors.FromFlatDataAndDimensions([]uint64{7, 8, 9}, 3)},
		{Name: "/scalar", Value: tensors.FromValue(float64(2.5))},
	}
}

// craftedV1 builds a version 1 file by hand, with a valid payload checksum,
// whose one tensor has the given name: the checksum of version 1 does not
// cover the header, so only validation stands between it and the loader.
func craftedV1(t testing.TB, name string) []byte {
	payload := make([]byte, 8)
	sum := sha256.Sum256(payload)
	h, err := json.Marshal(Header{Step: 1, Config: []byte(`{}`), PayloadSHA256: hex.EncodeToString(sum[:]),
		Tensors: []TensorEntry{{Name: name, DType: "Float32", Dims: []int{2}, Offset: 0, Length: 8}}})
	if err != nil {
		t.Fatal(err)
	}
	b := []byte(magic)
	b = binary.LittleEndian.AppendUint32(b, 1)
	b = binary.LittleEndian.AppendUint64(b, uint64(len(h)))
	return append(append(b, h...), payload...)
}

// TestRoundTrip: what is written is read back, names, flags, dtypes, shapes
// and bytes, with the kind, step, configuration and provenance.
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	h := Header{Kind: Model, Step: 42, Config: json.RawMessage(`{"preset":"tiny"}`), Provenance: json.RawMessage(`{"commit":"abc"}`)}
	path, err := Write(dir, h, testVars())
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(path) != "ckpt-000000042.ddpm" {
		t.Errorf("written to %s", path)
	}
	f, err := Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if f.Kind != Model || f.Step != 42 || string(f.Config) != `{"preset":"tiny"}` || string(f.Provenance) != `{"commit":"abc"}` || f.Version != Version {
		t.Errorf("header read back as %+v", f.Header)
	}
	b, _ := os.ReadFile(path)
	if sum := sha256.Sum256(b); f.SHA256 != hex.EncodeToString(sum[:]) {
		t.Errorf("SHA256 %s is not the file's", f.SHA256)
	}
	want := testVars()
	if len(f.Vars) != len(want) {
		t.Fatalf("%d variables read, want %d", len(f.Vars), len(want))
	}
	for i, v := range f.Vars {
		w := want[i]
		if v.Name != w.Name || v.Trainable != w.Trainable || !v.Value.Shape().Equal(w.Value.Shape()) {
			t.Errorf("variable %d: %s %v %s, want %s %v %s", i, v.Name, v.Trainable, v.Value.Shape(), w.Name, w.Trainable, w.Value.Shape())
		}
		var got, exp []byte
		v.Value.ConstBytes(func(b []byte) { got = slices.Clone(b) })
		w.Value.ConstBytes(func(b []byte) { exp = slices.Clone(b) })
		if !slices.Equal(got, exp) {
			t.Errorf("variable %s: bytes differ", v.Name)
		}
	}
}

// TestSplitName: scopes and names as GoMLX's context takes them.
func TestSplitName(t *testing.T) {
	for _, tc := range []struct{ in, scope, name string }{
		{"/model/conv/weights", "/model/conv", "weights"},
		{"//#rngState", "/", "#rngState"},
		{"/x", "/", "x"},
	} {
		if s, n := SplitName(tc.in); s != tc.scope || n != tc.name {
			t.Errorf("SplitName(%q) = %q, %q; want %q, %q", tc.in, s, n, tc.scope, tc.name)
		}
	}
}

// TestRefused: every kind of damage, and every header field out of range, is
// an error naming the file and the problem, never a panic.
func TestRefused(t *testing.T) {
	good, err := Encode(Header{Kind: Training, Step: 1, Config: json.RawMessage(`{}`)}, testVars())
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte { b := slices.Clone(good); b[i] ^= 1; return b }
	// v2 with a valid checksum over a header that lies: validation's job.
	resum := func(mutate func(h *Header)) []byte {
		hlen := binary.LittleEndian.Uint64(good[len(magic)+4:])
		var h Header
		if err := json.Unmarshal(good[fixedBytes:fixedBytes+int(hlen)], &h); err != nil {
			t.Fatal(err)
		}
		mutate(&h)
		hb, _ := json.Marshal(h)
		b := []byte(magic)
		b = binary.LittleEndian.AppendUint32(b, Version)
		b = binary.LittleEndian.AppendUint64(b, uint64(len(hb)))
		b = append(append(b, hb...), good[fixedBytes+int(hlen):len(good)-sumBytes]...)
		sum := sha256.Sum256(b)
		return append(b, sum[:]...)
	}
	for _, tc := range []struct {
		name string
		b    []byte
		want string
	}{
		{"empty", nil, "magic"},
		{"wrong magic", append([]byte("DDPMCKPX"), good[8:]...), "magic"},
		{"header byte flipped", flip(fixedBytes + 3), "checksum mismatch"},
		{"payload byte flipped", flip(len(good) - sumBytes - 2), "checksum mismatch"},
		{"checksum byte flipped", flip(len(good) - 1), "checksum mismatch"},
		{"truncated", good[:len(good)-10], "checksum mismatch"},
		{"future version", func() []byte { b := slices.Clone(good); b[8] = 9; return b }(), "format version 9"},
		{"v1 name without slash", craftedV1(t, "noslash"), `does not start with "/"`},
		{"v1 empty scope component", craftedV1(t, "/a//b/c"), "empty scope component"},
		{"v1 empty variable name", craftedV1(t, "/a/"), "empty variable name"},
		{"v1 control character", craftedV1(t, "/a/\x00"), "non-printable"},
		{"unknown kind", resum(func(h *Header) { h.Kind = "weights" }), `unknown kind "weights"`},
		{"negative step", resum(func(h *Header) { h.Step = -1 }), "negative step"},
		{"unknown dtype", resum(func(h *Header) { h.Tensors[0].DType = "Complex512" }), "unknown dtype"},
		{"negative dimension", resum(func(h *Header) { h.Tensors[0].Dims = []int{-2, -2} }), "dimensions"},
		{"huge dimensions", resum(func(h *Header) { h.Tensors[0].Dims = []int{1 << 40, 1 << 40} }), "dimensions"},
		{"overlapping offset", resum(func(h *Header) { h.Tensors[1].Offset = 0 }), "does not fit the payload"},
		{"length past the end", resum(func(h *Header) { h.Tensors[3].Length = 1 << 20 }), "does not fit the payload"},
		{"duplicate name", resum(func(h *Header) { h.Tensors[1].Name = h.Tensors[0].Name }), "appears twice"},
		{"bytes after the tensors", resum(func(h *Header) { h.Tensors = h.Tensors[:3] }), "bytes of payload after"},
	} {
		_, err := Decode(tc.b, "x.ddpm")
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "x.ddpm") {
			t.Errorf("%s: error %v, want one naming x.ddpm and %q", tc.name, err, tc.want)
		}
	}
}

// TestVersion1StillLoads: a version 1 file written by the code before this
// format (testdata/v1.ddpm, two steps of a 4-channel mnist model) loads, with every
// tensor and its configuration.
func TestVersion1StillLoads(t *testing.T) {
	f, err := Read(filepath.Join("testdata", "v1.ddpm"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Version != 1 || f.Step != 2 || f.Kind != "" {
		t.Errorf("version %d, step %d, kind %q; want 1, 2, empty", f.Version, f.Step, f.Kind)
	}
	var cfg struct{ Preset string }
	if err := json.Unmarshal(f.Config, &cfg); err != nil || cfg.Preset != "mnist" {
		t.Errorf("configuration %s (%v)", f.Config, err)
	}
	names := map[string]bool{}
	for _, v := range f.Vars {
		names[v.Name] = true
	}
	for _, want := range []string{"//#rngState", "/model/unet/conv_in/weights", "/ema/model/unet/conv_in/weights"} {
		if !names[want] {
			t.Errorf("no variable %s among %d", want, len(f.Vars))
		}
	}
}
