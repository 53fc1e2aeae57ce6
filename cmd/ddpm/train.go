package main

import (
	gocontext "context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/diffusion-go/ddpm/backend"
	"github.com/diffusion-go/ddpm/data"
	"github.com/diffusion-go/ddpm/train"
	"github.com/diffusion-go/ddpm/unet"
	"golang.org/x/term"
)

// trainArgs is a parsed ddpm train command line.
type trainArgs struct {
	cfg             train.Config
	dir, dataset    string
	dataDir         string
	download        bool
	limit, logEvery int
	devices         int // 0: all of the backend's
}

// parseTrainArgs turns the flags of ddpm train into a validated training
// configuration; it touches no file.
func parseTrainArgs(args []string) (*trainArgs, error) {
	fs := newFlagSet("train", `Trains a U-Net denoiser. The run folder holds checkpoints (ckpt-<step>.ddpm) and
metrics.jsonl; running the same command again resumes from the newest checkpoint
with nothing lost. One training per run folder: a second one is refused while the first holds the
folder's lock. Ctrl-C (SIGINT) or SIGTERM finishes the current step, writes a
checkpoint and exits with status 130 (SIGINT) or 143 (SIGTERM); a second signal
stops at once.

The defaults shown are the mnist preset's; with another -preset, every flag
that is not given keeps that preset's value.

Examples:
  ddpm train -preset mnist -dir runs/mnist -steps 2000
  ddpm train -preset mnist -dir runs/bound -loss vlb -variance learned-range
  ddpm train -preset tiny -dir runs/folder -data folder:my-images -batch 16
  ddpm train -preset cifar10 -dir runs/cifar10 -devices all   # data parallel over every GPU`)
	preset := fs.String("preset", "mnist", "model and training preset: "+strings.Join(unet.PresetNames(), ", "))
	dir := fs.String("dir", "", "run folder for checkpoints and metrics (required)")
	dataset := fs.String("data", "", dataFlagHelp+` (default: mnist for the mnist and tiny presets, resized to the tiny preset's 8x8, cifar10 for cifar10)`)
	dataDir := fs.String("data-dir", defaultDataDir(), "folder for downloaded datasets")
	download := fs.Bool("download", false, "download CIFAR-10 (170 MB, SHA-256 checked) if it is not in -data-dir")
	limit := fs.Int("limit", 0, "use only the first N training images (0: all)")
	devices := fs.String("devices", "1", `devices to split each batch over (data parallelism; the batch size must be a multiple), or "all"; checkpoints do not depend on it`)
	logEvery := fs.Int("log-every", 50, "steps between metrics lines (and progress lines when not on a terminal)")
	// Every setting of the preset can be overridden. The defaults shown are
	// the mnist preset's; a flag that is not given keeps its preset's value.
	def, _ := train.DefaultConfig("mnist")
	steps := fs.Int("steps", def.Steps, "total training steps")
	batch := fs.Int("batch", def.BatchSize, "batch size")
	lr := fs.Float64("lr", def.LearningRate, "peak learning rate")
	warmup := fs.Int("warmup", def.Warmup, "learning-rate warmup steps")
	ema := fs.Float64("ema", def.EMADecay, "EMA decay of the weights")
	clip := fs.Float64("grad-clip", def.GradClip, "clip the gradient's global norm (0: off)")
	seed := fs.Int64("seed", def.Seed, "seed of initialisation, data order, timesteps and noise")
	every := fs.Int("checkpoint-every", def.CheckpointEvery, "steps between checkpoints")
	keep := fs.Int("keep", def.KeepCheckpoints, "checkpoints to keep (0: all)")
	T := fs.Int("T", def.T, "diffusion steps")
	channels := fs.Int("channels", def.Model.Channels, "U-Net base channels")
	channelMult := fs.String("channel-mult", joinInts(def.Model.ChannelMult), `U-Net channel multipliers per resolution`)
	resBlocks := fs.Int("res-blocks", def.Model.NumResBlocks, "U-Net ResNet blocks per resolution")
	attn := fs.String("attn", joinInts(def.Model.AttnResolutions), `resolutions with self-attention, e.g. "16" or "14,7"; "none" for none`)
	groups := fs.Int("groups", def.Model.NumGroups, "GroupNorm groups")
	dropout := fs.Float64("dropout", def.Model.Dropout, "U-Net dropout")
	schedule, pred, variance, loss, tsampler := def.Schedule, def.Prediction, def.Variance, def.Loss, def.Timesteps
	fs.Var(&schedule, "schedule", "beta schedule: linear (default), cosine, quadratic")
	fs.Var(&pred, "prediction", "what the network predicts: eps (default), x0, v, mean")
	fs.Var(&variance, "variance", "reverse variance: fixed-large, fixed-small, learned-range")
	fs.Var(&loss, "loss", "training loss: simple (default), vlb, hybrid")
	fs.Var(&tsampler, "timesteps", "timestep sampling: uniform (default), loss-second-moment")
	precision := fs.String("precision", "float32", "precision of the network: float32; bfloat16 (its convolutions and matrix products; mixed precision: float32 weights, optimizer state, EMA, normalisation and loss); or bfloat16-activations (also the products' results between layers, as PyTorch's autocast)")
	minSNR := fs.Float64("min-snr", def.MinSNRGamma, "weigh the MSE by min-SNR-gamma with this gamma (Hang et al. 2023; 5 is theirs; 0: off)")
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if *dir == "" {
		return nil, fmt.Errorf("-dir is required: the folder for checkpoints and metrics")
	}
	nDevices := 0
	if *devices != "all" {
		var err error
		if nDevices, err = strconv.Atoi(*devices); err != nil || nDevices < 1 {
			return nil, fmt.Errorf(`-devices %q: want a positive number or "all"`, *devices)
		}
	}
	if *limit < 0 || *logEvery < 1 {
		return nil, fmt.Errorf("-limit must not be negative and -log-every must be positive")
	}
	cfg, err := train.DefaultConfig(*preset)
	if err != nil {
		return nil, err
	}
	// The flags given on the command line, applied over the preset.
	apply := map[string]func() error{
		"steps":            func() error { cfg.Steps = *steps; return nil },
		"batch":            func() error { cfg.BatchSize = *batch; return nil },
		"lr":               func() error { cfg.LearningRate = *lr; return nil },
		"warmup":           func() error { cfg.Warmup = *warmup; return nil },
		"ema":              func() error { cfg.EMADecay = *ema; return nil },
		"grad-clip":        func() error { cfg.GradClip = *clip; return nil },
		"seed":             func() error { cfg.Seed = *seed; return nil },
		"checkpoint-every": func() error { cfg.CheckpointEvery = *every; return nil },
		"keep":             func() error { cfg.KeepCheckpoints = *keep; return nil },
		"T":                func() error { cfg.T = *T; return nil },
		"channels":         func() error { cfg.Model.Channels = *channels; return nil },
		"res-blocks":       func() error { cfg.Model.NumResBlocks = *resBlocks; return nil },
		"groups":           func() error { cfg.Model.NumGroups = *groups; return nil },
		"dropout":          func() error { cfg.Model.Dropout = *dropout; return nil },
		"schedule":         func() error { cfg.Schedule = schedule; return nil },
		"prediction":       func() error { cfg.Prediction = pred; return nil },
		"variance":         func() error { cfg.Variance = variance; return nil },
		"loss":             func() error { cfg.Loss = loss; return nil },
		"timesteps":        func() error { cfg.Timesteps = tsampler; return nil },
		"min-snr":          func() error { cfg.MinSNRGamma = *minSNR; return nil },
		"precision": func() error {
			if _, err := train.ParsePrecision(*precision); err != nil {
				return fmt.Errorf("-precision: %w", err)
			}
			if cfg.Precision = *precision; cfg.Precision == "float32" {
				cfg.Precision = ""
			}
			return nil
		},
		"channel-mult": func() (err error) {
			cfg.Model.ChannelMult, err = parseInts("-channel-mult", *channelMult)
			return err
		},
		"attn": func() (err error) {
			if strings.TrimSpace(*attn) == "none" {
				cfg.Model.AttnResolutions = nil
				return nil
			}
			cfg.Model.AttnResolutions, err = parseInts("-attn", *attn)
			return err
		},
	}
	fs.Visit(func(f *flag.Flag) {
		if fn := apply[f.Name]; fn != nil && err == nil {
			err = fn()
		}
	})
	if err != nil {
		return nil, err
	}
	// Checked here, before any data is loaded; train.New derives the output
	// channels the same way.
	cfg.Model.OutChannels = cfg.Variance.OutputChannels(cfg.Model.InChannels)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if *dataset == "" {
		*dataset = train.PresetData(cfg.Preset)
	}
	return &trainArgs{cfg: cfg, dir: *dir, dataset: *dataset, dataDir: *dataDir, download: *download,
		limit: *limit, logEvery: *logEvery, devices: nDevices}, nil
}

func runTrain(args []string, stdout io.Writer) error {
	a, err := parseTrainArgs(args)
	if err != nil {
		return err
	}
	cfg := a.cfg
	ds, err := loadData(a.dataset, data.Train, cfg.Model, a.dataDir, a.download, stdout)
	if err != nil {
		return err
	}
	ds = ds.Subset(a.limit)

	b, err := backend.New()
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, "ddpm train:", backend.Describe(b))
	tr, err := train.New(b, cfg, a.dir, ds)
	if err != nil {
		return err
	}
	defer tr.Close()
	devices := a.devices
	if devices == 0 {
		devices = b.NumDevices()
	}
	if err := tr.SetDevices(devices); err != nil {
		return fmt.Errorf("-devices: %w", err)
	}
	if devices > 1 {
		fmt.Fprintf(stdout, "each batch of %d split over %d devices (%d each)\n", cfg.BatchSize, devices, cfg.BatchSize/devices)
	}
	if tr.Step() > 0 {
		fmt.Fprintf(stdout, "resuming %s at step %d of %d\n", a.dir, tr.Step(), cfg.Steps)
	} else {
		fmt.Fprintf(stdout, "training %s preset in %s: %d steps of batch %d on %d images\n", cfg.Preset, a.dir, cfg.Steps, cfg.BatchSize, ds.N)
	}

	// The first SIGINT or SIGTERM finishes the current step and writes a
	// checkpoint; a second one gets the default action and stops the process
	// at once (checkpoints are written atomically, so nothing is corrupted).
	ctx, cancel := gocontext.WithCancel(gocontext.Background())
	defer cancel()
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)
	stoppedBy := make(chan os.Signal, 1)
	go func() {
		if sig, ok := <-sigs; ok {
			signal.Reset(os.Interrupt, syscall.SIGTERM)
			stoppedBy <- sig
			cancel()
		}
	}()
	prog := newProgress(stdout, cfg.Steps, int(tr.Step()), a.logEvery)
	err = tr.Run(ctx, a.logEvery, prog.update)
	prog.done()
	select {
	case sig := <-stoppedBy:
		if err != nil && !errors.Is(err, gocontext.Canceled) {
			return err
		}
		code := exitInterrupted
		if sig == syscall.SIGTERM {
			code = exitTerminated
		}
		return &exitStatus{code: code, err: fmt.Errorf("stopped by %v at step %d of %d; a checkpoint was written: run the same command to resume", sig, tr.Step(), cfg.Steps)}
	default:
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "done: %d steps in %s; checkpoints in %s\n", tr.Step(), prog.elapsed().Round(time.Second), a.dir)
	return nil
}

// parseInts parses a comma-separated list of positive integers.
func parseInts(flagName, s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%s %q: want comma-separated positive integers", flagName, s)
		}
		out = append(out, n)
	}
	return out, nil
}

// progress prints a live line on a terminal, or a line every logEvery steps otherwise.
type progress struct {
	w          io.Writer
	tty        bool
	total      int
	first      int
	logEvery   int
	start      time.Time
	lastPrint  time.Time
	lastLoss   float64
	smoothLoss float64
}

func newProgress(w io.Writer, total, first, logEvery int) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		tty = term.IsTerminal(int(f.Fd()))
	}
	return &progress{w: w, tty: tty, total: total, first: first, logEvery: logEvery, start: time.Now()}
}

func (p *progress) elapsed() time.Duration { return time.Since(p.start) }

func (p *progress) update(st train.StepStats) {
	if p.smoothLoss == 0 {
		p.smoothLoss = st.Loss
	}
	p.smoothLoss = 0.95*p.smoothLoss + 0.05*st.Loss
	done := int(st.Step) - p.first
	rate := float64(done) / time.Since(p.start).Seconds()
	eta := time.Duration(float64(p.total-int(st.Step))/rate) * time.Second
	line := fmt.Sprintf("step %d/%d  loss %.4f (avg %.4f)  |g| %.3f  lr %.2g  %.2f steps/s  ETA %s",
		st.Step, p.total, st.Loss, p.smoothLoss, st.GradNorm, st.LearningRate, rate, eta.Round(time.Second))
	switch {
	case p.tty && time.Since(p.lastPrint) > 200*time.Millisecond:
		fmt.Fprintf(p.w, "\r%-100s", line)
		p.lastPrint = time.Now()
	case !p.tty && (int(st.Step)%p.logEvery == 0 || int(st.Step) == p.total):
		fmt.Fprintln(p.w, line)
	}
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprintln(p.w)
	}
}

// joinInts writes a list of ints as a flag value ("1,2,2"; "none" when empty).
func joinInts(xs []int) string {
	if len(xs) == 0 {
		return "none"
	}
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.Itoa(x)
	}
	return strings.Join(parts, ",")
}
