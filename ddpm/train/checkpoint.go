package train

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
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gomlx/gomlx/pkg/core/dtypes"
	"github.com/gomlx/gomlx/pkg/core/shapes"
	"github.com/gomlx/gomlx/pkg/core/tensors"
)

// A checkpoint is one file, ckpt-<step>.ddpm:
//
//	"DDPMCKPT" version(uint32 LE) headerLen(uint64 LE) header(JSON) payload
//
// The header lists every tensor (scope/name, dtype, dimensions, offset and
// length in the payload) and the SHA-256 of the payload, so a truncated or
// damaged file is detected before anything is loaded. Files are written to a
// temporary name, synced and renamed, so a crash never leaves a partial
// ckpt-*.ddpm behind.

const (
	ckptMagic   = "DDPMCKPT"
	ckptVersion = 1
	ckptPrefix  = "ckpt-"
	ckptSuffix  = ".ddpm"
	maxHeader   = 64 << 20
)

// TensorEntry describes one tensor of a checkpoint.
type TensorEntry struct {
	Name      string `json:"name"`
	Trainable bool   `json:"trainable,omitempty"`
	DType     string `json:"dtype"`
	Dims      []int  `json:"dims"`
	Offset    int64  `json:"offset"`
	Length    int64  `json:"length"`
}

// Header is the JSON header of a checkpoint.
type Header struct {
	Step          int64           `json:"step"`
	Config        json.RawMessage `json:"config"`
	State         json.RawMessage `json:"state,omitempty"` // Host-side training state (sampler history, ...).
	Tensors       []TensorEntry   `json:"tensors"`
	PayloadSHA256 string          `json:"payload_sha256"`
}

// Var is a named tensor of a checkpoint: a variable's scope and name joined
// by the last "/", whether it is trainable, and its value.
type Var struct {
	Name      string
	Trainable bool
	Value     *tensors.Tensor
}

// Checkpoint is a loaded checkpoint.
type Checkpoint struct {
	Header
	Path string
	Vars []Var
}

// WriteCheckpoint writes the variables and header atomically to
// dir/ckpt-<step>.ddpm. The variables keep their order: restoring them in
// the context's creation order rebuilds the very same training graph, which
// is what makes a resumed run bit-identical to an uninterrupted one on XLA.
func WriteCheckpoint(dir string, h Header, vars []Var) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("checkpoint folder: %w", err)
	}
	path := filepath.Join(dir, fmt.Sprintf("%s%09d%s", ckptPrefix, h.Step, ckptSuffix))
	if err := WriteCheckpointFile(path, h, vars); err != nil {
		return "", err
	}
	return path, nil
}

// WriteCheckpointFile writes the variables and header atomically to path
// (a temporary file in the same folder, synced, then renamed): on any error,
// including a full disk, a file already at path is left as it was.
func WriteCheckpointFile(path string, h Header, vars []Var) error {
	dir := filepath.Dir(path)
	var payload bytes.Buffer
	h.Tensors = nil
	for _, v := range vars {
		var raw []byte
		if err := v.Value.ConstBytes(func(b []byte) { raw = slices.Clone(b) }); err != nil {
			return fmt.Errorf("checkpoint: reading variable %s: %w", v.Name, err)
		}
		h.Tensors = append(h.Tensors, TensorEntry{Name: v.Name, Trainable: v.Trainable, DType: v.Value.DType().String(),
			Dims: v.Value.Shape().Dimensions, Offset: int64(payload.Len()), Length: int64(len(raw))})
		payload.Write(raw)
	}
	sum := sha256.Sum256(payload.Bytes())
	h.PayloadSHA256 = hex.EncodeToString(sum[:])
	header, err := json.Marshal(h)
	if err != nil {
		return err
	}
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
	w.WriteString(ckptMagic)
	_ = binary.Write(w, binary.LittleEndian, uint32(ckptVersion))
	_ = binary.Write(w, binary.LittleEndian, uint64(len(header)))
	w.Write(header)
	if d := writeDelay(); d > 0 { // Fault injection: a window in which a kill lands mid-write.
		half := payload.Len() / 2
		w.Write(payload.Bytes()[:half])
		if err := w.Flush(); err != nil {
			return fail(err)
		}
		time.Sleep(d)
		w.Write(payload.Bytes()[half:])
	} else {
		w.Write(payload.Bytes())
	}
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
// its payload written, so that a test can kill the process mid-write.
const WriteDelayEnv = "DDPM_CHECKPOINT_WRITE_DELAY"

func writeDelay() time.Duration {
	d, _ := time.ParseDuration(os.Getenv(WriteDelayEnv))
	return d
}

// tempFile is what a checkpoint is written through; tests substitute one
// that fails as a full disk does.
type tempFile interface {
	io.Writer
	Name() string
	Sync() error
	Close() error
}

// createTemp creates the temporary file of a checkpoint write.
var createTemp = func(dir, pattern string) (tempFile, error) { return os.CreateTemp(dir, pattern) }

// ReadCheckpoint loads and verifies a checkpoint file.
func ReadCheckpoint(path string) (*Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", path, err)
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("checkpoint %s is damaged or not a checkpoint: %s", path, fmt.Sprintf(format, args...))
	}
	r := bufio.NewReader(f)
	magic := make([]byte, len(ckptMagic))
	if _, err := io.ReadFull(r, magic); err != nil || string(magic) != ckptMagic {
		return nil, bad("no %q magic at the start", ckptMagic)
	}
	var version uint32
	var hlen uint64
	if binary.Read(r, binary.LittleEndian, &version) != nil || binary.Read(r, binary.LittleEndian, &hlen) != nil {
		return nil, bad("truncated header")
	}
	if version != ckptVersion {
		return nil, fmt.Errorf("checkpoint %s has format version %d; this program reads version %d", path, version, ckptVersion)
	}
	fixed := int64(len(ckptMagic) + 4 + 8)
	if hlen > maxHeader || int64(hlen) > st.Size()-fixed {
		return nil, bad("header length %d does not fit in a file of %d bytes", hlen, st.Size())
	}
	hb := make([]byte, hlen)
	if _, err := io.ReadFull(r, hb); err != nil {
		return nil, bad("truncated header")
	}
	c := &Checkpoint{Path: path}
	if err := json.Unmarshal(hb, &c.Header); err != nil {
		return nil, bad("header is not valid JSON: %v", err)
	}
	payloadLen := st.Size() - fixed - int64(hlen)
	payload := make([]byte, payloadLen)
	if _, err := io.ReadFull(r, payload); err != nil {
		return nil, bad("truncated payload")
	}
	sum := sha256.Sum256(payload)
	if hex.EncodeToString(sum[:]) != c.PayloadSHA256 {
		return nil, bad("payload checksum mismatch (the file is truncated or corrupted)")
	}
	for _, e := range c.Header.Tensors {
		dt, ok := dtypeByName[e.DType]
		if !ok {
			return nil, bad("tensor %q has unknown dtype %q", e.Name, e.DType)
		}
		shape := shapes.Make(dt, e.Dims...)
		if e.Offset < 0 || e.Length != int64(shape.Memory()) || e.Offset+e.Length > payloadLen {
			return nil, bad("tensor %q (%s) does not fit the payload", e.Name, shape)
		}
		t := tensors.FromShape(shape)
		if err := t.MutableBytes(func(b []byte) { copy(b, payload[e.Offset:e.Offset+e.Length]) }); err != nil {
			return nil, err
		}
		c.Vars = append(c.Vars, Var{Name: e.Name, Trainable: e.Trainable, Value: t})
	}
	return c, nil
}

var dtypeByName = func() map[string]dtypes.DType {
	m := map[string]dtypes.DType{}
	for _, dt := range []dtypes.DType{dtypes.Float32, dtypes.Float64, dtypes.Int32, dtypes.Int64, dtypes.Uint64, dtypes.Uint32, dtypes.BFloat16, dtypes.Float16} {
		m[dt.String()] = dt
	}
	return m
}()

// ListCheckpoints returns the checkpoint files of dir, oldest step first.
func ListCheckpoints(dir string) ([]string, error) {
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
		if !strings.HasPrefix(name, ckptPrefix) || !strings.HasSuffix(name, ckptSuffix) {
			continue
		}
		step, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimPrefix(name, ckptPrefix), ckptSuffix), 10, 64)
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

// LatestCheckpoint loads the newest readable checkpoint of dir (nil, nil when
// there is none). A damaged newest file is reported, not skipped silently:
// the error names it, and the caller decides.
func LatestCheckpoint(dir string) (*Checkpoint, error) {
	paths, err := ListCheckpoints(dir)
	if err != nil || len(paths) == 0 {
		return nil, err
	}
	return ReadCheckpoint(paths[len(paths)-1])
}

// pruneCheckpoints removes all but the newest keep checkpoints, and stray
// temporary files of interrupted writes.
func pruneCheckpoints(dir string, keep int) error {
	paths, err := ListCheckpoints(dir)
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
