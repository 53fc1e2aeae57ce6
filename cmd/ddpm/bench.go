package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/backend"
	"github.com/diffusion-go/ddpm/data"
	"github.com/diffusion-go/ddpm/train"
	"github.com/diffusion-go/ddpm/unet"
	"github.com/gomlx/gomlx/pkg/core/dtypes"
)

// benchResult is one measurement of one implementation on one preset. The
// PyTorch reference (scripts/bench/torch_ddpm.py) prints the same JSON.
type benchResult struct {
	Impl       string `json:"impl"` // "go" or "pytorch"
	Preset     string `json:"preset"`
	Backend    string `json:"backend"`
	Parameters int    `json:"parameters"`
	Batch      int    `json:"batch"`
	Threads    int    `json:"threads"`
	// XLAFlags and GlibcTunables are the measuring process's XLA_FLAGS and
	// GLIBC_TUNABLES, both of which change the speed.
	XLAFlags      string `json:"xla_flags,omitempty"`
	GlibcTunables string `json:"glibc_tunables,omitempty"`
	// ReuseScratch: XLA's scratch memory kept between runs (backend).
	ReuseScratch bool `json:"reuse_scratch,omitempty"`

	TrainStepSeconds    float64 `json:"train_step_seconds"` // Median of the timed steps.
	TrainImagesPerSec   float64 `json:"train_images_per_sec"`
	TrainCompileSeconds float64 `json:"train_compile_seconds"` // First step minus the median.
	// The same training step with the network's products in bfloat16
	// (train.Config.Precision; Go only, -bf16).
	TrainBF16StepSeconds float64 `json:"train_bf16_step_seconds,omitempty"`
	// Achieved GFLOP/s of the training step and of a sampler step, from the
	// network's nominal FLOP count (unet.Config.TrainFLOPs, ForwardFLOPs).
	TrainGFLOPS  float64 `json:"train_gflops,omitempty"`
	SampleGFLOPS float64 `json:"ancestral_step_gflops,omitempty"`

	// Sampler steps are timed over a few steps and the rate given for the
	// full loops: 1000 ancestral steps, 50 DDIM steps.
	AncestralStepSeconds float64 `json:"ancestral_step_seconds"`
	Ancestral1000PerSec  float64 `json:"ancestral1000_images_per_sec"`
	DDIMStepSeconds      float64 `json:"ddim_step_seconds"`
	DDIM50PerSec         float64 `json:"ddim50_images_per_sec"`
	SampleCompileSeconds float64 `json:"sample_compile_seconds"`
	// The ancestral sampler's step with the network's products in bfloat16
	// (unet.ParamCompute; Go only).
	AncestralBF16StepSeconds float64 `json:"ancestral_bf16_step_seconds,omitempty"`
	// BF16Precision names the precision of the two bfloat16 times
	// (train.Precisions: bfloat16 or bfloat16-activations).
	BF16Precision    string `json:"bf16_precision,omitempty"`
	PeakRSSBytes     int64  `json:"peak_rss_bytes"` // Of the whole measuring process (training, then sampling).
	TrainStepsTimed  int    `json:"train_steps_timed"`
	SampleStepsTimed int    `json:"sample_steps_timed"`
}

// benchSummary is the output of ddpm bench: every round, and the medians.
type benchSummary struct {
	Machine string                        `json:"machine"`
	Rounds  []benchResult                 `json:"rounds"`
	Median  map[string]benchResult        `json:"median"`                    // Key: impl/preset.
	Ratio   map[string]map[string]float64 `json:"go_over_pytorch,omitempty"` // Preset -> metric -> Go / PyTorch (speeds: >1 means Go is faster).
	Peak    *benchPeak                    `json:"peak,omitempty"`            // The backend's large matrix product.
}

func runBench(args []string, stdout io.Writer) error {
	fs := newFlagSet("bench", `Measures training and sampling speed, compile time and peak memory of the
presets, each measurement in a fresh process, and (with -torch) the PyTorch
reference of the same U-Net and samplers on the same machine, alternating
between the two; it reports medians and the ratio Go / PyTorch.

Training: images/s of full steps (forward, loss, backward, gradient clipping,
Adam, EMA) at the preset's batch size, on random images. Sampling: the time
of one ancestral step and one DDIM step at the same batch, timed over
-sample-steps steps, given as images/s of the 1000-step ancestral loop and of
50-step DDIM. PyTorch: scripts/bench/setup.sh installs it (PyTorch 2.15.0, run on the CPU) in
.cache/bench-venv; the tests never need it.

Example: ddpm bench -presets mnist -torch -rounds 3`)
	presets := fs.String("presets", "mnist", "comma-separated presets: mnist, cifar10, tiny")
	batch := fs.Int("batch", 0, "batch size (0: each preset's)")
	trainSteps := fs.Int("train-steps", 5, "timed training steps (after one compiling step)")
	sampleSteps := fs.Int("sample-steps", 10, "timed sampler steps of each kind (after one compiling step)")
	rounds := fs.Int("rounds", 3, "alternating rounds")
	withTorch := fs.Bool("torch", false, "also run the PyTorch reference")
	python := fs.String("python", ".cache/bench-venv/bin/python", "Python with PyTorch (scripts/bench/setup.sh)")
	script := fs.String("script", "scripts/bench/torch_ddpm.py", "the PyTorch reference")
	torchConfigs := fs.String("torch-configs", "eager", `PyTorch configurations to alternate with, comma-separated: eager (float32), compile (torch.compile), bf16 (bfloat16 autocast), compile-bf16`)
	asJSON := fs.Bool("json", false, "print the results as JSON")
	worker := fs.Bool("worker", false, "measure once in this process and print JSON (used by the rounds)")
	peakWorker := fs.Bool("peak-worker", false, "measure the backend's matrix-product peak in this process and print JSON")
	withBF16 := fs.Bool("bf16", true, "also time Go's training and sampler steps with the network's products in bfloat16 (one more compilation of each)")
	bf16Precision := fs.String("bf16-precision", "bfloat16", "the precision of -bf16's steps: bfloat16 (the products) or bfloat16-activations (also their results between layers)")
	withPeak := fs.Bool("peak", true, "also measure the backend's float32 and bfloat16 matrix-product peak (one process, a few seconds)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *trainSteps < 1 || *sampleSteps < 1 || *rounds < 1 || *batch < 0 {
		return errors.New("-train-steps, -sample-steps and -rounds must be positive, -batch not negative")
	}
	if p, err := train.ParsePrecision(*bf16Precision); err != nil || p.Compute != dtypes.BFloat16 {
		return fmt.Errorf("-bf16-precision %q: valid values are bfloat16, bfloat16-activations", *bf16Precision)
	}
	names := strings.Split(*presets, ",")
	for _, p := range names {
		if _, err := unet.Preset(p); err != nil {
			return err
		}
	}
	if *peakWorker {
		p, err := measurePeak()
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(p)
	}
	if *worker {
		if len(names) != 1 {
			return errors.New("-worker measures one preset")
		}
		r, err := benchGo(names[0], *batch, *trainSteps, *sampleSteps, *withBF16, *bf16Precision)
		if err != nil {
			return err
		}
		return json.NewEncoder(stdout).Encode(r)
	}
	torchArgs := map[string][]string{"eager": nil, "compile": {"-compile"}, "bf16": {"-bf16"}, "compile-bf16": {"-compile", "-bf16"}}
	configs := strings.Split(*torchConfigs, ",")
	for _, c := range configs {
		if _, ok := torchArgs[c]; !ok {
			return fmt.Errorf("-torch-configs: unknown configuration %q: valid values are eager, compile, bf16, compile-bf16", c)
		}
	}
	if *withTorch {
		if _, err := os.Stat(*python); err != nil {
			return fmt.Errorf("-torch needs PyTorch: run scripts/bench/setup.sh (or give -python): %w", err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	sum := benchSummary{Machine: machine(), Median: map[string]benchResult{}}
	for r := range *rounds {
		for _, p := range names {
			common := []string{"-batch", fmt.Sprint(*batch), "-train-steps", fmt.Sprint(*trainSteps), "-sample-steps", fmt.Sprint(*sampleSteps)}
			runs := [][]string{append([]string{self, "bench", "-worker", "-presets", p, fmt.Sprintf("-bf16=%t", *withBF16), "-bf16-precision", *bf16Precision}, common...)}
			if *withTorch {
				for _, c := range configs {
					runs = append(runs, append(append([]string{*python, *script, "-presets", p}, common...), torchArgs[c]...))
				}
			}
			if r%2 == 1 { // Alternate which goes first.
				slices.Reverse(runs)
			}
			for _, argv := range runs {
				fmt.Fprintf(os.Stderr, "bench: round %d/%d: %s\n", r+1, *rounds, strings.Join(argv, " "))
				res, err := benchProcess(argv)
				if err != nil {
					return err
				}
				sum.Rounds = append(sum.Rounds, res)
			}
		}
	}
	sum.summarise()
	if *withPeak {
		fmt.Fprintln(os.Stderr, "bench: the backend's matrix-product peak")
		var out bytes.Buffer
		cmd := exec.Command(self, "bench", "-peak-worker")
		cmd.Stdout, cmd.Stderr = &out, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("measuring the peak: %w", err)
		}
		sum.Peak = &benchPeak{}
		if err := json.Unmarshal(out.Bytes(), sum.Peak); err != nil {
			return fmt.Errorf("the peak measurement printed no result: %w", err)
		}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(sum)
	}
	sum.table(stdout, names)
	return nil
}

// benchProcess runs one measuring process and decodes its JSON.
func benchProcess(argv []string) (benchResult, error) {
	cmd := exec.Command(argv[0], argv[1:]...)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return benchResult{}, fmt.Errorf("%s: %w", strings.Join(argv, " "), err)
	}
	var r benchResult
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		return benchResult{}, fmt.Errorf("%s printed no result: %w\n%s", strings.Join(argv, " "), err, out.String())
	}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		r.PeakRSSBytes = ru.Maxrss * 1024 // Linux reports KiB.
	}
	r.addGFLOPS()
	return r, nil
}

// addGFLOPS fills in the achieved GFLOP/s of a result measured by another
// program (the PyTorch reference runs the same network).
func (r *benchResult) addGFLOPS() {
	m, err := unet.Preset(r.Preset)
	if err != nil || r.Batch == 0 {
		return
	}
	if r.TrainGFLOPS == 0 && r.TrainStepSeconds > 0 {
		r.TrainGFLOPS = float64(m.TrainFLOPs(r.Batch)) / r.TrainStepSeconds / 1e9
	}
	if r.SampleGFLOPS == 0 && r.AncestralStepSeconds > 0 {
		r.SampleGFLOPS = float64(m.ForwardFLOPs(r.Batch)) / r.AncestralStepSeconds / 1e9
	}
}

func (s *benchSummary) summarise() {
	groups := map[string][]benchResult{}
	var keys []string
	for _, r := range s.Rounds {
		k := r.Impl + "/" + r.Preset
		if _, ok := groups[k]; !ok {
			keys = append(keys, k)
		}
		groups[k] = append(groups[k], r)
	}
	for _, k := range keys {
		rs := groups[k]
		m := rs[0]
		med := func(f func(benchResult) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			return median(v)
		}
		m.TrainStepSeconds = med(func(r benchResult) float64 { return r.TrainStepSeconds })
		m.TrainImagesPerSec = med(func(r benchResult) float64 { return r.TrainImagesPerSec })
		m.TrainCompileSeconds = med(func(r benchResult) float64 { return r.TrainCompileSeconds })
		m.TrainGFLOPS = med(func(r benchResult) float64 { return r.TrainGFLOPS })
		m.SampleGFLOPS = med(func(r benchResult) float64 { return r.SampleGFLOPS })
		m.AncestralStepSeconds = med(func(r benchResult) float64 { return r.AncestralStepSeconds })
		m.Ancestral1000PerSec = med(func(r benchResult) float64 { return r.Ancestral1000PerSec })
		m.DDIMStepSeconds = med(func(r benchResult) float64 { return r.DDIMStepSeconds })
		m.DDIM50PerSec = med(func(r benchResult) float64 { return r.DDIM50PerSec })
		m.SampleCompileSeconds = med(func(r benchResult) float64 { return r.SampleCompileSeconds })
		m.AncestralBF16StepSeconds = med(func(r benchResult) float64 { return r.AncestralBF16StepSeconds })
		m.TrainBF16StepSeconds = med(func(r benchResult) float64 { return r.TrainBF16StepSeconds })
		m.PeakRSSBytes = int64(med(func(r benchResult) float64 { return float64(r.PeakRSSBytes) }))
		s.Median[k] = m
	}
	for _, g := range s.Median {
		if g.Impl != "go" {
			continue
		}
		for _, t := range s.Median {
			if t.Preset != g.Preset || !strings.HasPrefix(t.Impl, "pytorch") {
				continue
			}
			if s.Ratio == nil {
				s.Ratio = map[string]map[string]float64{}
			}
			r := map[string]float64{
				"train_images_per_sec":         g.TrainImagesPerSec / t.TrainImagesPerSec,
				"ancestral1000_images_per_sec": g.Ancestral1000PerSec / t.Ancestral1000PerSec,
				"ddim50_images_per_sec":        g.DDIM50PerSec / t.DDIM50PerSec,
				"peak_rss":                     float64(g.PeakRSSBytes) / float64(t.PeakRSSBytes),
			}
			if strings.HasSuffix(t.Impl, "-bf16") {
				// At the same precision: Go's bfloat16 steps.
				if g.AncestralBF16StepSeconds > 0 {
					r["ancestral_step_bf16"] = t.AncestralStepSeconds / g.AncestralBF16StepSeconds
				}
				if g.TrainBF16StepSeconds > 0 {
					r["train_step_bf16"] = t.TrainStepSeconds / g.TrainBF16StepSeconds
				}
			}
			s.Ratio[ratioKey(g.Preset, t.Impl)] = r
		}
	}
}

// ratioKey names the ratios of Go against one PyTorch configuration: the
// preset for eager float32 PyTorch ("mnist"), "preset/impl" for the others
// ("mnist/pytorch-compile-bf16").
func ratioKey(preset, impl string) string {
	if impl == "pytorch" {
		return preset
	}
	return preset + "/" + impl
}

func (s *benchSummary) table(w io.Writer, presets []string) {
	fmt.Fprintf(w, "machine: %s\n\n", s.Machine)
	fmt.Fprintf(w, "%-8s %-20s %10s %6s %12s %12s %10s %14s %12s %12s %10s %10s\n", "preset", "impl", "params", "batch",
		"train img/s", "train GFLOP/s", "compile s", "1000-step img/s", "DDIM50 img/s", "step GFLOP/s", "peak RSS", "threads")
	for _, p := range presets {
		impls := []string{"go"}
		for _, c := range []string{"", "-compile", "-bf16", "-compile-bf16"} {
			impls = append(impls, "pytorch"+c)
		}
		for _, impl := range impls {
			m, ok := s.Median[impl+"/"+p]
			if !ok {
				continue
			}
			fmt.Fprintf(w, "%-8s %-20s %10d %6d %12.1f %12.1f %10.1f %14.3f %12.2f %12.1f %8.0fMB %10d\n", p, impl, m.Parameters, m.Batch,
				m.TrainImagesPerSec, m.TrainGFLOPS, m.TrainCompileSeconds, m.Ancestral1000PerSec, m.DDIM50PerSec, m.SampleGFLOPS, float64(m.PeakRSSBytes)/1e6, m.Threads)
		}
		for _, impl := range impls[1:] {
			if r, ok := s.Ratio[ratioKey(p, impl)]; ok {
				label := "go/" + strings.Replace(strings.TrimPrefix(impl, "pytorch"), "-", "", 1)
				if impl == "pytorch" {
					label = "go/torch"
				}
				fmt.Fprintf(w, "%-8s %-20s %10s %6s %11.2fx %12s %10s %13.2fx %11.2fx %12s %9.2fx\n", p, label, "", "",
					r["train_images_per_sec"], "", "", r["ancestral1000_images_per_sec"], r["ddim50_images_per_sec"], "", r["peak_rss"])
				if v, ok := r["train_step_bf16"]; ok {
					fmt.Fprintf(w, "%-8s %-20s training step, both with bfloat16 products: Go %.2fx the speed of %s\n", p, "", v, impl)
				}
				if v, ok := r["ancestral_step_bf16"]; ok {
					fmt.Fprintf(w, "%-8s %-20s sampler step, both with bfloat16 products: Go %.2fx the speed of %s\n", p, "", v, impl)
				}
			}
		}
	}
	fmt.Fprintf(w, "\nmedians of %d rounds; speeds are images/s (higher is better), ratios Go / PyTorch\n", len(s.Rounds)/max(1, len(s.Median)))
	for _, p := range presets {
		if m, ok := s.Median["go/"+p]; ok && m.TrainBF16StepSeconds > 0 {
			fmt.Fprintf(w, "go %s training step: %.4f s in float32, %.4f s %s (%.2fx)\n", p,
				m.TrainStepSeconds, m.TrainBF16StepSeconds, bf16Words(m.BF16Precision), m.TrainStepSeconds/m.TrainBF16StepSeconds)
		}
		if m, ok := s.Median["go/"+p]; ok && m.AncestralBF16StepSeconds > 0 {
			fmt.Fprintf(w, "go %s sampler step: %.4f s in float32, %.4f s %s (%.2fx)\n", p,
				m.AncestralStepSeconds, m.AncestralBF16StepSeconds, bf16Words(m.BF16Precision), m.AncestralStepSeconds/m.AncestralBF16StepSeconds)
		}
	}
	if p := s.Peak; p != nil && p.Float32GFLOPS > 0 {
		fmt.Fprintf(w, "the backend's %dx%d matrix product: %.1f GFLOP/s in float32", p.Size, p.Size, p.Float32GFLOPS)
		if p.BFloat16GFLOPS > 0 {
			fmt.Fprintf(w, ", %.1f in bfloat16", p.BFloat16GFLOPS)
		} else if p.BFloat16Error != "" {
			fmt.Fprintf(w, "; bfloat16 failed: %s", p.BFloat16Error)
		}
		fmt.Fprintln(w)
		for _, name := range presets {
			if m, ok := s.Median["go/"+name]; ok && m.TrainGFLOPS > 0 {
				fmt.Fprintf(w, "  go %s: training at %.0f%% and sampling at %.0f%% of the float32 product's rate\n", name,
					100*m.TrainGFLOPS/p.Float32GFLOPS, 100*m.SampleGFLOPS/p.Float32GFLOPS)
			}
		}
	}
}

func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("%s, %d logical CPUs, %s/%s", cpu, runtime.NumCPU(), runtime.GOOS, runtime.GOARCH)
}

// bf16Words describes the precision of the bfloat16 times in the summary.
func bf16Words(precision string) string {
	if p, err := train.ParsePrecision(precision); err == nil && p.Activations == dtypes.BFloat16 {
		return "with bfloat16 products and activations"
	}
	return "with bfloat16 products"
}

// benchGo measures the Go implementation on one preset in this process.
func benchGo(preset string, batch, trainSteps, sampleSteps int, withBF16 bool, bf16Precision string) (benchResult, error) {
	cfg, err := train.DefaultConfig(preset)
	if err != nil {
		return benchResult{}, err
	}
	if batch > 0 {
		cfg.BatchSize = batch
	}
	cfg.Steps, cfg.CheckpointEvery = 1<<30, 1<<30
	b, err := backend.New()
	if err != nil {
		return benchResult{}, err
	}
	m := cfg.Model
	rng := rand.New(rand.NewPCG(1, 2))
	n := 4 * cfg.BatchSize
	ds := &data.Images{N: n, H: m.ImageSize, W: m.ImageSize, C: m.InChannels, Pixels: make([]uint8, n*m.ImageSize*m.ImageSize*m.InChannels)}
	for i := range ds.Pixels {
		ds.Pixels[i] = uint8(rng.IntN(256))
	}
	dir, err := os.MkdirTemp("", "ddpm-bench-")
	if err != nil {
		return benchResult{}, err
	}
	defer os.RemoveAll(dir)
	tr, err := train.New(b, cfg, filepath.Join(dir, "run"), ds)
	if err != nil {
		return benchResult{}, err
	}
	defer tr.Close()
	model, _ := unet.New(m)
	params, err := model.NumParameters(b)
	if err != nil {
		return benchResult{}, err
	}
	r := benchResult{Impl: "go", Preset: preset, Backend: backend.Describe(b), Parameters: params, Batch: cfg.BatchSize,
		Threads: runtime.NumCPU(), TrainStepsTimed: trainSteps, SampleStepsTimed: sampleSteps,
		XLAFlags: os.Getenv("XLA_FLAGS"), GlibcTunables: os.Getenv("GLIBC_TUNABLES"), ReuseScratch: backend.ReusesScratch()}

	times, err := trainStepTimes(tr, preset, trainSteps)
	if err != nil {
		return r, err
	}
	r.TrainStepSeconds = median(times[1:])
	r.TrainCompileSeconds = times[0] - r.TrainStepSeconds
	r.TrainImagesPerSec = float64(cfg.BatchSize) / r.TrainStepSeconds
	r.TrainGFLOPS = float64(m.TrainFLOPs(cfg.BatchSize)) / r.TrainStepSeconds / 1e9

	ema, err := tr.EMAContext()
	if err != nil {
		return r, err
	}
	s := ddpm.NewSampler(b, train.ModelContext(ema), tr.Diffusion(), model.Denoise)
	shape := []int{cfg.BatchSize, m.ImageSize, m.ImageSize, m.InChannels}
	stepTimes := func(method ddpm.Method) ([]float64, error) {
		var ts []float64
		last := time.Now()
		_, err := s.Sample(shape, ddpm.SampleOptions{Method: method, Steps: fmt.Sprint(sampleSteps + 1), ClipX0: true, Seed: 1,
			Progress: func(done, total int) {
				now := time.Now()
				ts = append(ts, now.Sub(last).Seconds())
				last = now
				fmt.Fprintf(os.Stderr, "\rgo %s: %v step %d/%d   ", preset, method, done, total)
			}})
		return ts, err
	}
	anc, err := stepTimes(ddpm.Ancestral)
	if err != nil {
		return r, err
	}
	ddim, err := stepTimes(ddpm.DDIM)
	if err != nil {
		return r, err
	}
	r.AncestralStepSeconds = median(anc[1:])
	r.DDIMStepSeconds = median(ddim[1:])
	r.SampleCompileSeconds = anc[0] - r.AncestralStepSeconds
	r.Ancestral1000PerSec = float64(cfg.BatchSize) / (1000 * r.AncestralStepSeconds)
	r.SampleGFLOPS = float64(m.ForwardFLOPs(cfg.BatchSize)) / r.AncestralStepSeconds / 1e9
	r.DDIM50PerSec = float64(cfg.BatchSize) / (50 * r.DDIMStepSeconds)
	if !withBF16 {
		fmt.Fprintln(os.Stderr)
		return r, nil
	}
	// The same steps with the network's products in bfloat16: the sampler
	// on the same EMA weights, the training step in a second trainer (its
	// own compilation) after the first is closed.
	prec, err := train.ParsePrecision(bf16Precision)
	if err != nil {
		return r, err
	}
	r.BF16Precision = prec.Name
	prec.Apply(ema)
	s = ddpm.NewSampler(b, train.ModelContext(ema), tr.Diffusion(), model.Denoise)
	if bf16, err := stepTimes(ddpm.Ancestral); err == nil {
		r.AncestralBF16StepSeconds = median(bf16[1:])
	} else {
		fmt.Fprintf(os.Stderr, "\ngo %s: the bfloat16 sampler step failed: %v", preset, err)
	}
	fmt.Fprintln(os.Stderr)
	tr.Close()
	cfg.Precision = prec.Name
	trBF16, err := train.New(b, cfg, filepath.Join(dir, "run-bfloat16"), ds)
	if err != nil {
		return r, err
	}
	defer trBF16.Close()
	if bf16, err := trainStepTimes(trBF16, preset+" bfloat16", trainSteps); err == nil {
		r.TrainBF16StepSeconds = median(bf16[1:])
	} else {
		fmt.Fprintf(os.Stderr, "\ngo %s: the bfloat16 training step failed: %v", preset, err)
	}
	fmt.Fprintln(os.Stderr)
	return r, nil
}

// trainStepTimes runs steps+1 training steps (the first compiles) and
// returns the wall time of each.
func trainStepTimes(tr *train.Trainer, label string, steps int) ([]float64, error) {
	var times []float64
	for i := range steps + 1 {
		start := time.Now()
		if _, err := tr.TrainStep(); err != nil {
			return nil, err
		}
		times = append(times, time.Since(start).Seconds())
		fmt.Fprintf(os.Stderr, "\rgo %s: training step %d/%d", label, i+1, steps+1)
	}
	return times, nil
}

func median(v []float64) float64 {
	v = slices.Clone(v)
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
