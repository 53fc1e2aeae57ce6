//go:build !unix

package train

// LockFile is the name of the lock file in a run folder.
const LockFile = "train.lock"

// runLock does nothing where flock is not available: one training per run
// folder is then the user's to ensure.
type runLock struct{}

func lockRun(dir string) (*runLock, error) { return &runLock{}, nil }

func (l *runLock) release() {}
