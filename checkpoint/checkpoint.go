// Package checkpoint reads and writes the files that hold a model's tensors:
// training checkpoints (weights, optimizer state, EMA, RNG), sampling models
// (EMA weights only) and the evaluation classifier. One format, one reader,
// trusted only after its checksum.
//
// Format version 2, one file:
//
//	"DDPMCKPT" version(uint32 LE) headerLen(uint64 LE) header(JSON) payload SHA-256(32 bytes)
//
// The last 32 bytes are the SHA-256 of everything before them, so a damaged,
// truncated or crafted file is refused before its header is parsed. The
// header lists every tensor (scope/name, dtype, dimensions, offset and
// length), laid end to end in the payload in the order given; every field is
// validated before use. Version 1 files (the checksum covering only the
// payload, kept in the header) still load, with the same validation.
//
// Files are written to a temporary name in the same folder, synced and
// renamed, so a crash never leaves a partial file under the final name.
package checkpoint

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

const (
	magic = "DDPMCKPT"
	// Version is the format version this package writes.
	Version    = 2
	prefix     = "ckpt-"
	Suffix     = ".ddpm" // File name extension of checkpoints and models.
	maxHeader  = 64 << 20
	fixedBytes = len(magic) + 4 + 8
	sumBytes   = sha256.Size
	maxNameLen = 1024
	maxRank    = 16
)

// Kind says what a file holds.
type Kind string

const (
	// Training is a resumable training checkpoint: weights, optimizer state,
	// EMA, RNG state.
	Training Kind = "training"
	// Model holds the weights to sample with (a run's EMA weights), under the
	// model scope, and the run's configuration.
	Model Kind = "model"
	// Classifier holds the evaluation classifier's weights.
	Classifier Kind = "classifier"
)

// TensorEntry describes one tensor of a file.
type TensorEntry struct {
	Name      string `json:"name"`
	Trainable bool   `json:"trainable,omitempty"`
	DType     string `json:"dtype"`
	Dims      []int  `json:"dims"`
	Offset    int64  `json:"offset"`
	Length    int64  `json:"length"`
}

// Header is the JSON header of a file.
type Header struct {
	Kind       Kind            `json:"kind,omitempty"` // Empty in version 1 files (training or classifier).
	Step       int64           `json:"step"`
	Config     json.RawMessage `json:"config"`
	State      json.RawMessage `json:"state,omitempty"`      // Host-side training state (sampler history, ...).
	Provenance json.RawMessage `json:"provenance,omitempty"` // How a model was made (command, commit, machine, ...).
	Tensors    []TensorEntry   `json:"tensors"`
	// PayloadSHA256 is version 1's checksum of the payload alone; version 2
	// files carry a checksum of the whole file after the payload instead.
	PayloadSHA256 string `json:"payload_sha256,omitempty"`
}

// Var is a named tensor: a variable's scope and name joined by the last "/"
// (see SplitName), whether it is trainable, and its value.
type Var struct {
	Name      string
	Trainable bool
	Value     *tensors.Tensor
}

// File is a loaded file.
type File struct {
	Header
	Path    string
	Version int
	// SHA256 is the hex SHA-256 of the whole file as read.
	SHA256 string
	Vars   []Var
}

// SplitName returns the scope and the variable name of a Var name, as
// validated when the file was read: "/model/conv/weights" gives
// "/model/conv" and "weights"; a variable at the root ("/x" or "//x") has
// scope "/".
func SplitName(name string) (scope, varName string) {
	i := strings.LastIndex(name, "/")
	scope, varName = name[:max(i, 0)], name[i+1:]
	if scope == "" {
		scope = "/"
	}
	return scope, varName
}

// validName reports why a Var name cannot be a GoMLX scope and name ("" if
// it can).
func validName(name string) string {
	switch {
	case len(name) == 0 || len(name) > maxNameLen:
		return fmt.Sprintf("has %d bytes (1 to %d allowed)", len(name), maxNameLen)
	case !utf8.ValidString(name):
		return "is not valid UTF-8"
	case strings.IndexFunc(name, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0:
		return "has a non-printable character"
	case !strings.HasPrefix(name, "/"):
		return `does not start with "/"`
	}
	i := strings.LastIndex(name, "/")
	scope, v := name[:i], name[i+1:]
	if v == "" {
		return "has an empty variable name"
	}
	if scope == "" || scope == "/" {
		return ""
	}
	for _, part := range strings.Split(scope[1:], "/") {
		if part == "" {
			return "has an empty scope component"
		}
	}
	return ""
}

// Write writes the variables and header atomically to
// dir/ckpt-<step>.ddpm and returns the path.
func Write(dir string, h Header, vars []Var) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint folder: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%s%09d%s", prefix, h.Step, Suffix))
	if err := WriteFile(path, h, vars); err != nil {
		return "", err
	}
	return path, nil
}

// Encode returns the bytes of a version 2 file. The variables keep their
// order: restoring them in the context's creation order rebuilds the very
// same training graph, which is what makes a resumed run bit-identical to an
// uninterrupted one on XLA.
func Encode(h Header, vars []Var) ([]byte, error) {
	if h.Kind == "" {
		return nil, errors.New("checkpoint: header without a kind")
	}
	var payload bytes.Buffer
	h.Tensors, h.PayloadSHA256 = nil, ""
	for _, v := range vars {
		if why := validName(v.Name); why != "" {
			return nil, fmt.Errorf("checkpoint: variable name %q %s", v.Name, why)
		}
		var raw []byte
		if err := v.Value.ConstBytes(func(b []byte) { raw = slices.Clone(b) }); err != nil {
			return nil, fmt.Errorf("checkpoint: reading variable %s: %w", v.Name, err)
		}
		h.Tensors = append(h.Tensors, TensorEntry{Name: v.Name, Trainable: v.Trainable, DType: v.Value.DType().String(),
			Dims: v.Value.Shape().Dimensions, Offset: int64(payload.Len()), Length: int64(len(raw))})
		payload.Write(raw)
	}
	header, err := json.Marshal(h)
	if err != nil {
		return nil, err
	}
	var out bytes.Buffer
	out.Grow(fixedBytes + len(header) + payload.Len() + sumBytes)
	out.WriteString(magic)
	_ = binary.Write(&out, binary.LittleEndian, uint32(Version))
	_ = binary.Write(&out, binary.LittleEndian, uint64(len(header)))
	out.Write(header)
	out.Write(payload.Bytes())
	sum := sha256.Sum256(out.Bytes())
	out.Write(sum[:])
	return out.Bytes(), nil
}

// WriteFile writes the variables and header atomically to path (a temporary
// file in the same folder, synced, then renamed): on any error, including a
// full disk, a file already at path is left as it was.
func WriteFile(path string, h Header, vars []Var) error {
	b, err := Encode(h, vars)
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := createTemp(dir, ".ckpt-*.tmp")
	if err != nil {
		return fmt.Errorf("writing checkpoint %s: %w", path, err)
	}
	fail := func(err error) error {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("writing checkpoint %s: %w", path, err)
	}
	w := bufio.NewWriterSize(tmp, 1<<20)
	if d := writeDelay(); d > 0 { // Fault injection: a window in which a kill lands mid-write.
		w.Write(b[:len(b)/2])
		if err := w.Flush(); err != nil {
			return fail(err)
		}
		time.Sleep(d)
		b = b[len(b)/2:]
	}
	w.Write(b)
	if err := w.Flush(); err != nil {
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing checkpoint %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil { // Make the rename durable.
		_ = d.Sync()
		d.Close()
	}
	return nil
}

// WriteDelayEnv names an environment variable for fault-injection tests: a
// duration (e.g. "200ms") for which every checkpoint write pauses with half
// its bytes written, so that a test can kill the process mid-write.
const WriteDelayEnv = "DDPM_CHECKPOINT_WRITE_DELAY"

func writeDelay() time.Duration {
	d, _ := time.ParseDuration(os.Getenv(WriteDelayEnv))
	return d
}

// TempFile is what a file is written through; tests substitute one that
// fails as a full disk does (see SetCreateTemp).
type TempFile interface {
	io.Writer
	Name() string
	Sync() error
	Close() error
}

var createTemp = func(dir, pattern string) (TempFile, error) { return os.CreateTemp(dir, pattern) }

// SetCreateTemp replaces how the temporary file of a write is created, for
// fault-injection tests; nil restores the default. It returns the previous
// function.
func SetCreateTemp(fn func(dir, pattern string) (TempFile, error)) func(dir, pattern string) (TempFile, error) {
	old := createTemp
	if fn == nil {
		fn = func(dir, pattern string) (TempFile, error) { return os.CreateTemp(dir, pattern) }
	}
	createTemp = fn
	return old
}

// Read loads and verifies a file.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	return Decode(b, path)
}

// Decode verifies and parses the bytes of a file; name is used in errors and
// kept as the File's Path.
func Decode(b []byte, name string) (*File, error) {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("checkpoint %s is damaged or not a checkpoint: %s", name, fmt.Sprintf(format, args...))
	}
	if len(b) < fixedBytes || string(b[:len(magic)]) != magic {
		return nil, bad("no %q magic at the start", magic)
	}
	version := binary.LittleEndian.Uint32(b[len(magic):])
	hlen := binary.LittleEndian.Uint64(b[len(magic)+4:])
	whole := sha256.Sum256(b)
	f := &File{Path: name, Version: int(version), SHA256: hex.EncodeToString(whole[:])}
	var payload []byte
	switch version {
	case 1:
		if hlen > maxHeader || hlen > uint64(len(b)-fixedBytes) {
			return nil, bad("header length %d does not fit in a file of %d bytes", hlen, len(b))
		}
		if err := json.Unmarshal(b[fixedBytes:fixedBytes+int(hlen)], &f.Header); err != nil {
			return nil, bad("header is not valid JSON: %v", err)
		}
		payload = b[fixedBytes+int(hlen):]
		sum := sha256.Sum256(payload)
		if hex.EncodeToString(sum[:]) != f.PayloadSHA256 {
			return nil, bad("payload checksum mismatch (the file is truncated or corrupted)")
		}
		if f.Kind != "" {
			return nil, bad("version 1 header with a kind %q", f.Kind)
		}
	case Version:
		if len(b) < fixedBytes+sumBytes {
			return nil, bad("truncated file")
		}
		body := b[:len(b)-sumBytes]
		sum := sha256.Sum256(body)
		if !bytes.Equal(sum[:], b[len(body):]) {
			return nil, bad("checksum mismatch (the file is truncated or corrupted)")
		}
		if hlen > maxHeader || hlen > uint64(len(body)-fixedBytes) {
			return nil, bad("header length %d does not fit in a file of %d bytes", hlen, len(b))
		}
		if err := json.Unmarshal(body[fixedBytes:fixedBytes+int(hlen)], &f.Header); err != nil {
			return nil, bad("header is not valid JSON: %v", err)
		}
		payload = body[fixedBytes+int(hlen):]
		switch f.Kind {
		case Training, Model, Classifier:
		default:
			return nil, bad("unknown kind %q", f.Kind)
		}
	default:
		return nil, fmt.Errorf("checkpoint %s has format version %d; this program reads versions 1 and %d (a newer program wrote it?)", name, version, Version)
	}
	if f.Step < 0 {
		return nil, bad("negative step %d", f.Step)
	}
	seen := map[string]bool{}
	next := int64(0)
	for _, e := range f.Tensors {
		if why := validName(e.Name); why != "" {
			return nil, bad("tensor name %q %s", e.Name, why)
		}
		if seen[e.Name] {
			return nil, bad("tensor %q appears twice", e.Name)
		}
		seen[e.Name] = true
		dt, ok := dtypeByName[e.DType]
		if !ok {
			return nil, bad("tensor %q has unknown dtype %q", e.Name, e.DType)
		}
		if len(e.Dims) > maxRank {
			return nil, bad("tensor %q has rank %d (at most %d)", e.Name, len(e.Dims), maxRank)
		}
		size := int64(dt.Size())
		for _, d := range e.Dims {
			if d < 0 || (d > 0 && size > math.MaxInt64/int64(d)) {
				return nil, bad("tensor %q has dimensions %v", e.Name, e.Dims)
			}
			size *= int64(d)
		}
		if e.Offset != next || e.Length != size || size > int64(len(payload))-e.Offset {
			return nil, bad("tensor %q (%s %v) does not fit the payload at offset %d", e.Name, e.DType, e.Dims, e.Offset)
		}
		next += size
		t := tensors.FromShape(shapes.Make(dt, e.Dims...))
		if err := t.MutableBytes(func(dst []byte) { copy(dst, payload[e.Offset:e.Offset+e.Length]) }); err != nil {
			return nil, err
		}
		f.Vars = append(f.Vars, Var{Name: e.Name, Trainable: e.Trainable, Value: t})
	}
	if next != int64(len(payload)) {
		return nil, bad("%d bytes of payload after the last tensor", int64(len(payload))-next)
	}
	return f, nil
}

var dtypeByName = func() map[string]dtypes.DType {
	m := map[string]dtypes.DType{}
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float64, dtypes.Int32, dtypes.Int64, dtypes.Uint64, dtypes.Uint32, dtypes.BFloat16, dtypes.Float16} {
		m[dt.String()] = dt
	}
	return m
}()

// List returns the checkpoint files (ckpt-<step>.ddpm) of dir, oldest step
// first; none for a folder that does not exist.
func List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	type ck struct {
		step int64
		path string
	}
	var cks []ck
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, Suffix) {
			continue
		}
		step, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, prefix), Suffix), 10, 64)
		if err != nil {
			continue
		}
		cks = append(cks, ck{step, filepath.Join(dir, name)})
	}
	sort.Slice(cks, func(i, j int) bool { return cks[i].step < cks[j].step })
	out := make([]string, len(cks))
	for i, c := range cks {
		out[i] = c.path
	}
	return out, nil
}

// Latest loads the newest checkpoint of dir (nil, nil when there is none). A
// damaged newest file is reported, not skipped silently: the error names it,
// and the caller decides.
func Latest(dir string) (*File, error) {
	paths, err := List(dir)
	if err != nil || len(paths) == 0 {
		return nil, err
	}
	return Read(paths[len(paths)-1])
}

// Prune removes all but the newest keep checkpoints of dir (keep 0 keeps
// all), and stray temporary files of interrupted writes.
func Prune(dir string, keep int) error {
	paths, err := List(dir)
	if err != nil {
		return err
	}
	if keep > 0 && len(paths) > keep {
		for _, p := range paths[:len(paths)-keep] {
			if err := os.Remove(p); err != nil {
				return err
			}
		}
	}
	tmps, _ := filepath.Glob(filepath.Join(dir, ".ckpt-*.tmp"))
	for _, p := range tmps {
		os.Remove(p)
	}
	return nil
}
