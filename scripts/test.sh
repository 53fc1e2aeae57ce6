#!/usr/bin/env bash
# The project's test command (README): installs the PJRT CPU plugin, then runs
# every test on the XLA backend and the core library's tests again on the
# pure-Go backend. Slow tests skip under: scripts/test.sh -short
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
if ! ./scripts/install-pjrt.sh; then
  echo "test: no PJRT plugin could be installed; the XLA runs below use the pure-Go fallback" >&2
fi
# Jupyter and the GoNB kernel, for the test of the headless notebook runner.
./scripts/install-jupyter.sh
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [[ -n "$unformatted" ]]; then
  echo "test: gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...
echo "== go test, default backend (XLA CPU when its plugin is installed)"
go test -count=1 -timeout 30m "$@" ./...
echo "== fuzzing the parsers of outside input (seeds in the targets and in testdata/fuzz; a failing input is saved there)"
# A number of inputs per target (2-10 s each on 2 cores), not a duration:
# Go 1.26's fuzzing coordinator can fail a duration-bounded run with a bare
# "context deadline exceeded" when the time runs out (go.dev/issue/75804,
# fixed in Go 1.27); a count has no deadline to race.
while read -r target pkg count; do
  go test -run '^$' -fuzz "^${target}\$" -fuzztime "$count" "$pkg" </dev/null
done <<'TARGETS'
FuzzParsers . 60000x
FuzzReadIDXImages ./data 200000x
FuzzReadIDXLabels ./data 200000x
FuzzReadCIFAR10 ./data 100000x
FuzzReadCheckpoint ./checkpoint 200000x
FuzzDecodeImage ./data 200000x
FuzzTrainFlags ./cmd/ddpm 60000x
TARGETS
echo "== go test of the core library on the pure-Go backend"
GOMLX_BACKEND=go:ops_sequential go test -count=1 -timeout 30m "$@" . ./internal/... ./unet/
echo "== the command's bad-input, lock, signal and kill tests on the pure-Go backend"
GOMLX_BACKEND=go:ops_sequential go test -count=1 -timeout 30m "$@" \
  -run 'TestBadInputs|TestBadCommandLines|TestOneTrainingPerFolder|TestSignalStopsCleanly|TestKillAndResume|TestHelp' ./cmd/ddpm
