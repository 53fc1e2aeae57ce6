package train

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"

	"github.com/diffusion-go/ddpm"
	"github.com/diffusion-go/ddpm/checkpoint"
)

// resume restores the newest checkpoint of the run folder, if any, and opens
// the metrics log.
func (tr *Trainer) resume() error {
	ck, err := checkpoint.Latest(tr.Dir)
	if err != nil {
		return fmt.Errorf("resuming from %s: %w (move the damaged file away to resume from an older checkpoint)", tr.Dir, err)
	}
	if ck != nil {
		if err := tr.restore(ck); err != nil {
			return err
		}
	}
	return tr.openMetrics()
}

// restore loads a checkpoint into the trainer.
func (tr *Trainer) restore(ck *checkpoint.File) error {
	if ck.Kind != checkpoint.Training && ck.Kind != "" {
		return fmt.Errorf("%s holds a %s, not a training checkpoint: move it out of the run folder", ck.Path, ck.Kind)
	}
	var saved Config
	if err := json.Unmarshal(ck.Config, &saved); err != nil {
		return fmt.Errorf("checkpoint %s: configuration: %w", ck.Path, err)
	}
	want := tr.Config
	saved.Steps, want.Steps = 0, 0
	if !reflect.DeepEqual(saved, want) {
		return fmt.Errorf("checkpoint %s was written by a different configuration (%s): use another folder, or the same flags", ck.Path, configDiff(saved, want))
	}
	for _, v := range ck.Vars {
		scope, name := checkpoint.SplitName(v.Name)
		vr := tr.ctx.GetVariableByScopeAndName(scope, name)
		if vr == nil {
			vr = tr.ctx.InAbsPath(scope).Checked(false).VariableWithValue(name, v.Value)
		} else if err := vr.SetValue(v.Value); err != nil {
			return err
		}
		vr.SetTrainable(v.Trainable)
	}
	tr.step = ck.Step
	if las, ok := tr.sampler.(*ddpm.LossAwareSampler); ok && len(ck.State) > 0 {
		var st ddpm.LossAwareState
		if err := json.Unmarshal(ck.State, &st); err != nil {
			return fmt.Errorf("checkpoint %s: sampler state: %w", ck.Path, err)
		}
		if err := las.SetState(st); err != nil {
			return fmt.Errorf("checkpoint %s: %w", ck.Path, err)
		}
	}
	return nil
}

// Save writes a checkpoint of the current state and prunes old ones.
func (tr *Trainer) Save() (string, error) {
	cfgJSON, err := json.Marshal(tr.Config)
	if err != nil {
		return "", err
	}
	h := checkpoint.Header{Kind: checkpoint.Training, Step: tr.step, Config: cfgJSON}
	if las, ok := tr.sampler.(*ddpm.LossAwareSampler); ok {
		if h.State, err = json.Marshal(las.State()); err != nil {
			return "", err
		}
	}
	var vars []checkpoint.Var
	for v := range tr.ctx.IterVariables() {
		val, err := v.Value()
		if err != nil {
			return "", fmt.Errorf("checkpoint: variable %s: %w", v.ScopeAndName(), err)
		}
		vars = append(vars, checkpoint.Var{Name: v.Scope() + "/" + v.Name(), Trainable: v.Trainable, Value: val})
	}
	path, err := checkpoint.Write(tr.Dir, h, vars)
	if err != nil {
		return "", err
	}
	return path, checkpoint.Prune(tr.Dir, tr.Config.KeepCheckpoints)
}

// metricsFile is the name of the metrics log (JSON lines) in the run folder.
const metricsFile = "metrics.jsonl"

// openMetrics opens the metrics log, dropping lines past the resumed step
// (they came from steps that will be run again).
func (tr *Trainer) openMetrics() error {
	if err := os.MkdirAll(tr.Dir, 0o755); err != nil {
		return fmt.Errorf("run folder: %w", err)
	}
	path := filepath.Join(tr.Dir, metricsFile)
	old, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	var kept []byte
	for _, line := range strings.SplitAfter(string(old), "\n") {
		var st StepStats
		if json.Unmarshal([]byte(line), &st) == nil && st.Step <= tr.step && strings.HasSuffix(line, "\n") {
			kept = append(kept, line...)
		}
	}
	if err := os.WriteFile(path+".tmp", kept, 0o644); err != nil {
		os.Remove(path + ".tmp")
		return fmt.Errorf("run folder %s is not writable: %w", tr.Dir, err)
	}
	if err := os.Rename(path+".tmp", path); err != nil {
		return fmt.Errorf("run folder %s is not writable: %w", tr.Dir, err)
	}
	tr.metrics, err = os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	return err
}

func (tr *Trainer) logMetrics(st StepStats) error {
	b, _ := json.Marshal(st)
	if _, err := tr.metrics.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing %s: %w", filepath.Join(tr.Dir, metricsFile), err)
	}
	return nil
}
