package main

import (
	gocontext "context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/diffusion-go/ddpm/ddpm"
	"github.com/diffusion-go/ddpm/ddpm/backend"
	"github.com/diffusion-go/ddpm/ddpm/data"
	"github.com/diffusion-go/ddpm/ddpm/train"
	"github.com/diffusion-go/ddpm/ddpm/unet"
	"golang.org/x/term"
)

// trainArgs is a parsed ddpm train command line.
type trainArgs struct {
	cfg             train.Config
	dir, dataset    string
	dataDir         string
	download        bool
	limit, logEvery int
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

Examples:
  ddpm train -preset mnist -dir runs/mnist -steps 2000
  ddpm train -preset mnist -dir runs/bound -loss vlb -variance learned-range
  ddpm train -preset tiny -dir runs/folder -data folder:my-images -batch 16`)
	preset := fs.String("preset", "mnist", "model and training preset: "+strings.Join(unet.PresetNames(), ", "))
	dir := fs.String("dir", "", "run folder for checkpoints and metrics (required)")
	dataset := fs.String("data", "", dataFlagHelp+` (default: mnist for the mnist and tiny presets, cifar10 for cifar10)`)
	dataDir := fs.String("data-dir", defaultDataDir(), "folder for downloaded datasets")
	download := fs.Bool("download", false, "download CIFAR-10 (170 MB, SHA-256 checked) if it is not in -data-dir")
	limit := fs.Int("limit", 0, "use only the first N training images (0: all)")
	logEvery := fs.Int("log-every", 50, "steps between metrics lines (and progress lines when not on a terminal)")
	// Every setting of the preset can be overridden; the defaults shown are mnist's.
	def, _ := train.DefaultConfig("mnist")
	steps := fs.Int("steps", 0, fmt.Sprintf("total training steps (0: the preset's; mnist %d)", def.Steps))
	batch := fs.Int("batch", 0, fmt.Sprintf("batch size (0: the preset's; mnist %d)", def.BatchSize))
	lr := fs.Float64("lr", 0, fmt.Sprintf("peak learning rate (0: the preset's; mnist %g)", def.LearningRate))
	warmup := fs.Int("warmup", -1, "learning-rate warmup steps (-1: the preset's)")
	ema := fs.Float64("ema", -1, "EMA decay of the weights (-1: the preset's)")
	clip := fs.Float64("grad-clip", -1, "clip the gradient's global norm (0: off; -1: the preset's, 1.0)")
	seed := fs.Int64("seed", 1, "seed of initialisation, data order, timesteps and noise")
	every := fs.Int("checkpoint-every", 0, "steps between checkpoints (0: the preset's)")
	keep := fs.Int("keep", -1, "checkpoints to keep (0: all; -1: the preset's, 3)")
	T := fs.Int("T", 0, "diffusion steps (0: the preset's, 1000)")
	channels := fs.Int("channels", 0, "U-Net base channels (0: the preset's)")
	channelMult := fs.String("channel-mult", "", `U-Net channel multipliers per resolution, e.g. "1,2,2" ("": the preset's)`)
	resBlocks := fs.Int("res-blocks", 0, "U-Net ResNet blocks per resolution (0: the preset's)")
	attn := fs.String("attn", "", `resolutions with self-attention, e.g. "16" or "14,7"; "none" for none ("": the preset's)`)
	groups := fs.Int("groups", 0, "GroupNorm groups (0: the preset's)")
	dropout := fs.Float64("dropout", -1, "U-Net dropout (-1: the preset's)")
	var schedule ddpm.BetaSchedule
	var pred ddpm.Prediction
	var variance ddpm.VarianceType
	var loss ddpm.LossType
	var tsampler ddpm.TimestepSamplerKind
	var set = map[string]bool{}
	fs.Func("schedule", "beta schedule: linear (default), cosine, quadratic", func(s string) error { set["schedule"] = true; return schedule.Set(s) })
	fs.Func("prediction", "what the network predicts: eps (default), x0, v, mean", func(s string) error { set["prediction"] = true; return pred.Set(s) })
	fs.Func("variance", "reverse variance: fixed-large (default), fixed-small, learned-range", func(s string) error { set["variance"] = true; return variance.Set(s) })
	fs.Func("loss", "training loss: simple (default), vlb, hybrid", func(s string) error { set["loss"] = true; return loss.Set(s) })
	fs.Func("timesteps", "timestep sampling: uniform (default), loss-second-moment", func(s string) error { set["timesteps"] = true; return tsampler.Set(s) })
	if err := parse(fs, args); err != nil {
		return nil, err
	}
	if *dir == "" {
		return nil, fmt.Errorf("-dir is required: the folder for checkpoints and metrics")
	}
	if *limit < 0 || *logEvery < 1 {
		return nil, fmt.Errorf("-limit must not be negative and -log-every must be positive")
	}
	cfg, err := train.DefaultConfig(*preset)
	if err != nil {
		return nil, err
	}
	override := func(dst *int, v int, unset int) {
		if v != unset {
			*dst = v
		}
	}
	override(&cfg.Steps, *steps, 0)
	override(&cfg.BatchSize, *batch, 0)
	override(&cfg.Warmup, *warmup, -1)
	override(&cfg.CheckpointEvery, *every, 0)
	override(&cfg.KeepCheckpoints, *keep, -1)
	override(&cfg.T, *T, 0)
	if *channels != 0 {
		cfg.Model.Channels = *channels
	}
	if *lr != 0 {
		cfg.LearningRate = *lr
	}
	if *ema != -1 {
		cfg.EMADecay = *ema
	}
	if *clip != -1 {
		cfg.GradClip = *clip
	}
	if *dropout != -1 {
		cfg.Model.Dropout = *dropout
	}
	if *resBlocks != 0 {
		cfg.Model.NumResBlocks = *resBlocks
	}
	if *groups != 0 {
		cfg.Model.NumGroups = *groups
	}
	if *channelMult != "" {
		if cfg.Model.ChannelMult, err = parseInts("-channel-mult", *channelMult); err != nil {
			return nil, err
		}
	}
	switch *attn {
	case "":
	case "none":
		cfg.Model.AttnResolutions = nil
	default:
		if cfg.Model.AttnResolutions, err = parseInts("-attn", *attn); err != nil {
			return nil, err
		}
	}
	cfg.Seed = *seed
	if set["schedule"] {
		cfg.Schedule = schedule
	}
	if set["prediction"] {
		cfg.Prediction = pred
	}
	if set["variance"] {
		cfg.Variance = variance
	}
	if set["loss"] {
		cfg.Loss = loss
	}
	if set["timesteps"] {
		cfg.Timesteps = tsampler
	}
	sched, err := ddpm.NewSchedule(cfg.Schedule, cfg.T)
	if err != nil {
		return nil, err
	}
	if _, err := ddpm.NewDiffusion(sched, cfg.Prediction, cfg.Variance, cfg.Loss); err != nil {
		return nil, err
	}
	cfg.Model.OutChannels = cfg.Variance.OutputChannels(cfg.Model.InChannels)
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if *dataset == "" {
		*dataset = train.PresetData(cfg.Preset)
	}
	return &trainArgs{cfg: cfg, dir: *dir, dataset: *dataset, dataDir: *dataDir, download: *download,
		limit: *limit, logEvery: *logEvery}, nil
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
