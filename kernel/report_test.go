package kernel

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/diffusion-go/ddpm"
)

func TestScanNotebook(t *testing.T) {
	nb := `{"cells": [
	  {"cell_type": "markdown", "source": "panic: in prose is fine"},
	  {"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stdout", "text": "panic: printed to stdout is fine\n"}]},
	  {"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stderr", "text": ["goroutine 1:\n", "panic: boom\n"]}]},
	  {"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stderr", "text": "exit status 3\n"}]},
	  {"cell_type": "code", "outputs": [{"output_type": "error", "ename": "ERROR", "evalue": "failed to run"}]},
	  {"cell_type": "code", "outputs": [{"output_type": "stream", "name": "stderr", "text": "go: added github.com/x v1\n"}]},
	  {"cell_type": "code", "source": ["%%\n", "gonbui.DisplayPNG(png)"], "outputs": []},
	  {"cell_type": "code", "source": "%%\nx := 1", "outputs": []}
	]}`
	fails, err := ScanNotebook([]byte(nb))
	if err != nil {
		t.Fatal(err)
	}
	var cells []int
	for _, f := range fails {
		cells = append(cells, f.Cell)
	}
	if len(fails) != 4 || cells[0] != 2 || cells[1] != 3 || cells[2] != 4 || cells[3] != 6 {
		t.Errorf("failures in cells %v (%v), want 2, 3, 4 and 6 (a display that shows nothing)", cells, fails)
	}
	if _, err := ScanNotebook([]byte("{not json")); err == nil {
		t.Error("corrupt notebook: no error")
	}
}

func TestCountEmbeddedImages(t *testing.T) {
	html := `<style>.x{background:url(data:image/png;base64,AAA)}</style>
<img alt="a" class="" src="data:image/png;base64,iVBOR"><img src="data:image/png;base64,iVBOR">`
	if n := CountEmbeddedImages([]byte(html)); n != 2 {
		t.Errorf("counted %d images, want 2 (the CSS does not count)", n)
	}
}

// TestRunNotebookCatchesFailures executes real notebooks with GoNB: a
// passing one, and cells that panic, exit non-zero, or do not compile. It
// needs the set-up of scripts/install-jupyter.sh (scripts/test.sh runs it).
// WithTitle gives a notebook its first heading as title, and leaves a
// title that is there, or a notebook without a heading, alone.
func TestWithTitle(t *testing.T) {
	title := func(ipynb string) string {
		out, err := WithTitle([]byte(ipynb))
		if err != nil {
			t.Fatalf("%s: %v", ipynb, err)
		}
		var nb struct {
			Metadata struct{ Title string } `json:"metadata"`
		}
		if err := json.Unmarshal(out, &nb); err != nil {
			t.Fatalf("%s: %v", out, err)
		}
		return nb.Metadata.Title
	}
	for _, c := range []struct{ ipynb, want string }{
		{`{"cells": [{"cell_type": "code", "source": "# not a heading"}, {"cell_type": "markdown", "source": ["Intro\n", "# 1. The forward process \n", "# later"]}], "metadata": {}}`, "1. The forward process"},
		{`{"cells": [{"cell_type": "markdown", "source": "## only a section"}], "metadata": {"kernelspec": {}}}`, ""},
		{`{"cells": [{"cell_type": "markdown", "source": "# heading"}], "metadata": {"title": "kept"}}`, "kept"},
		{`{"cells": [{"cell_type": "markdown", "source": "# heading"}]}`, "heading"},
	} {
		if got := title(c.ipynb); got != c.want {
			t.Errorf("%s: title %q, want %q", c.ipynb, got, c.want)
		}
	}
	if _, err := WithTitle([]byte("{")); err == nil || !strings.Contains(err.Error(), "not a notebook") {
		t.Errorf("broken JSON: %v", err)
	}
}

func TestRunNotebookCatchesFailures(t *testing.T) {
	root, _ := filepath.Abs("..")
	jupyter := filepath.Join(root, ".cache", "venv", "bin", "jupyter")
	kernelJSON := filepath.Join(root, ".cache", "jupyter", "kernels", KernelName, "kernel.json")
	if _, err := os.Stat(jupyter); err != nil {
		t.Skip("Jupyter is not installed here: run scripts/install-jupyter.sh")
	}
	if _, err := os.Stat(kernelJSON); err != nil {
		t.Skip("the GoNB kernel is not installed here: run scripts/install-jupyter.sh")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("go is not on PATH")
	}
	opts := RunOptions{Jupyter: jupyter, Kernel: KernelName, ReportDir: t.TempDir(), WorkDir: t.TempDir(),
		Timeout: 5 * time.Minute, Env: []string{"JUPYTER_DATA_DIR=" + filepath.Join(root, ".cache", "jupyter")}}
	for _, tc := range []struct {
		notebook string
		fails    bool
		mention  string
	}{
		{"passing", false, ""},
		{"failing_panic", true, "panic:"},
		{"failing_exit", true, "exit status 3"},
		{"failing_compile", true, ""},
	} {
		res, err := RunNotebook(filepath.Join("testdata", tc.notebook+".ipynb"), opts)
		if err != nil {
			t.Fatalf("%s: %v", tc.notebook, err)
		}
		if got := len(res.Failures) > 0; got != tc.fails {
			t.Errorf("%s: failures %v, want failing=%v", tc.notebook, res.Failures, tc.fails)
			continue
		}
		all := ""
		for _, f := range res.Failures {
			all += f.Message + "\n"
		}
		if !strings.Contains(all, tc.mention) {
			t.Errorf("%s: failures %q do not mention %q", tc.notebook, all, tc.mention)
		}
		if !tc.fails {
			if html, err := os.ReadFile(res.HTML); err != nil || !strings.Contains(string(html), "all good") {
				t.Errorf("%s: report %s lacks the cell output (%v)", tc.notebook, res.HTML, err)
			} else if !strings.Contains(string(html), "<title>A passing notebook</title>") {
				t.Errorf("%s: the report's title is not the notebook's heading", tc.notebook)
			}
		}
	}

	// Offline: with a local MathJax the report loads nothing from the web.
	opts.MathJaxURL = "mathjax/MathJax.js?config=TeX-AMS-MML_HTMLorMML-full,Safe"
	res, err := RunNotebook(filepath.Join("testdata", "passing.ipynb"), opts)
	if err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(res.HTML)
	if err != nil {
		t.Fatal(err)
	}
	if remote := RemoteURLs(page); len(remote) > 0 {
		t.Errorf("an offline report still loads %v", remote)
	}
	if !strings.Contains(string(page), `src="mathjax/MathJax.js?config=`) {
		t.Error("the offline report does not load the local MathJax")
	}
}

// outsideSetup is the first cell of a user's own notebook in any folder:
// it points GoNB's scratch module at a checkout of this repository (root)
// and pins the versions the library is tested with (README, "Your own
// notebooks").
func outsideSetup(root string) string {
	return "!*cat " + root + "/go.sum " + root + "/kernel/tools/go.sum >> go.sum && go mod edit -replace=github.com/diffusion-go/ddpm=" + root +
		" && go get github.com/diffusion-go/ddpm@v0.0.0-00010101000000-000000000000 github.com/gomlx/gomlx@v0.26.0 github.com/janpfeifer/must@v0.2.0 2>&1 | grep -v '^go: ' || true"
}

// TestNotebookOutsideCheckout runs a notebook that lives outside this
// checkout, set up as the README tells a user to, and reads a number the
// library computed from its report.
func TestNotebookOutsideCheckout(t *testing.T) {
	root, _ := filepath.Abs("..")
	jupyter := filepath.Join(root, ".cache", "venv", "bin", "jupyter")
	if _, err := os.Stat(filepath.Join(root, ".cache", "jupyter", "kernels", KernelName, "kernel.json")); err != nil {
		t.Skip("the GoNB kernel is not installed here: run scripts/install-jupyter.sh")
	}
	dir := t.TempDir()
	cells := []string{outsideSetup(root), `import (
	"fmt"

	"github.com/diffusion-go/ddpm"
	"github.com/janpfeifer/must"
)

%%
s := must.M1(ddpm.NewSchedule(ddpm.Linear, 1000))
fmt.Printf("abar_T = %.6e\n", s.AlphasCumprod[999])`}
	nb := map[string]any{"nbformat": 4, "nbformat_minor": 5,
		"metadata": map[string]any{"kernelspec": map[string]string{"display_name": "Go (GoNB, ddpm)", "language": "go", "name": KernelName}}}
	var cs []map[string]any
	for _, c := range cells {
		cs = append(cs, map[string]any{"cell_type": "code", "execution_count": nil, "metadata": map[string]any{}, "outputs": []any{}, "source": c})
	}
	nb["cells"] = cs
	b, err := json.Marshal(nb)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "mine.ipynb")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	opts := RunOptions{Jupyter: jupyter, Kernel: KernelName, ReportDir: t.TempDir(), WorkDir: dir,
		Timeout: 5 * time.Minute, Env: []string{"JUPYTER_DATA_DIR=" + filepath.Join(root, ".cache", "jupyter")}}
	res, err := RunNotebook(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Failures) > 0 {
		t.Fatalf("a notebook outside the checkout failed: %v", res.Failures)
	}
	s, err := ddpm.NewSchedule(ddpm.Linear, 1000)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("abar_T = %.6e", s.AlphasCumprod[999])
	if html, err := os.ReadFile(res.HTML); err != nil || !strings.Contains(string(html), want) {
		t.Errorf("the report of a notebook outside the checkout lacks %q (%v)", want, err)
	}
}

// TestRemoteURLsAndOffline: the scripts, styles and images a page loads from
// the web are found, links are not; Offline drops the empty require.js tag.
func TestRemoteURLsAndOffline(t *testing.T) {
	page := []byte(`<script src="https://cdn.example/require.js"></script><script src=""></script>
<link rel="stylesheet" href="http://cdn.example/a.css"><img src="data:image/png;base64,AAAA">
<a href="https://arxiv.org/abs/2006.11239">the paper</a><script src="mathjax/MathJax.js"></script>`)
	got := RemoteURLs(page)
	if want := []string{"https://cdn.example/require.js", "http://cdn.example/a.css"}; !slices.Equal(got, want) {
		t.Errorf("RemoteURLs = %v, want %v", got, want)
	}
	if strings.Contains(string(Offline(page)), `<script src=""></script>`) {
		t.Error("Offline kept the empty script tag")
	}
}

// TestWriteIndex: the index links every report relatively, shows its first
// heading and first image, its run time and failures, and the run's size,
// backend and commit.
func TestWriteIndex(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a := write("01_a.html", `<h1 id="x">1. Forward &amp; back<a class="anchor-link" href="#x">¶</a></h1><img src="data:image/png;base64,iVBORw0KGgo=">`)
	b := write("02_b.html", `<p>no heading, no image</p>`)
	info := IndexInfo{Size: "small", Backend: "backend xla:cpu", Commit: "abc1234", Date: time.Date(2026, 12, 2, 23, 0, 0, 0, time.UTC)}
	if err := WriteIndex(dir, info, []IndexEntry{
		{Notebook: "notebooks/01_a.ipynb", HTML: a, Elapsed: 90 * time.Second},
		{Notebook: "notebooks/02_b.ipynb", HTML: b, Elapsed: time.Second, Failed: 2},
	}); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, "index.html"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`href="01_a.html"`, "1. Forward &amp; back<", `src="data:image/png;base64,iVBORw0KGgo="`, "1m30s", "all passed",
		`href="02_b.html"`, ">02_b<", "2 failed", "small size", "xla:cpu", "abc1234", "2026-12-02 23:00 UTC"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("index lacks %q:\n%s", want, page)
		}
	}
	if remote := RemoteURLs(page); len(remote) > 0 {
		t.Errorf("the index loads %v", remote)
	}
}

// TestUpdateIndex: running one notebook again keeps the reports of an
// earlier run in the index, marked with that run; a report whose HTML file
// is gone leaves the index; a damaged index.json starts afresh.
func TestUpdateIndex(t *testing.T) {
	dir := t.TempDir()
	write := func(name string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("<h1>"+name+"</h1>"), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	a, b := write("01_a.html"), write("02_b.html")
	first := IndexInfo{Size: "small", Commit: "aaa1111", Date: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)}
	second := IndexInfo{Size: "full", Commit: "bbb2222", Date: time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)}
	index := func() string {
		page, err := os.ReadFile(filepath.Join(dir, "index.html"))
		if err != nil {
			t.Fatal(err)
		}
		return string(page)
	}
	if n, err := UpdateIndex(dir, first, []IndexEntry{{Notebook: "nb/02_b.ipynb", HTML: b}, {Notebook: "nb/01_a.ipynb", HTML: a}}); err != nil || n != 2 {
		t.Fatalf("first run: %d rows, %v", n, err)
	}
	if page := index(); strings.Contains(page, "earlier run") || strings.Index(page, "01_a.html") > strings.Index(page, "02_b.html") {
		t.Errorf("first run's index (rows sorted, none earlier):\n%s", page)
	}
	if n, err := UpdateIndex(dir, second, []IndexEntry{{Notebook: "nb/02_b.ipynb", HTML: b, Failed: 1}}); err != nil || n != 2 {
		t.Fatalf("second run: %d rows, %v", n, err)
	}
	page := index()
	for _, want := range []string{`href="01_a.html"`, "from an earlier run, 2026-12-01 10:00 UTC: small size, commit aaa1111", `href="02_b.html"`, "1 failed", "full size", "bbb2222"} {
		if !strings.Contains(page, want) {
			t.Errorf("second run's index lacks %q:\n%s", want, page)
		}
	}
	if strings.Count(page, "earlier run") != 1 {
		t.Errorf("only 01_a is from the earlier run:\n%s", page)
	}
	if err := os.Remove(a); err != nil {
		t.Fatal(err)
	}
	if n, err := UpdateIndex(dir, second, []IndexEntry{{Notebook: "nb/02_b.ipynb", HTML: b}}); err != nil || n != 1 || strings.Contains(index(), "01_a") {
		t.Errorf("with 01_a.html removed: %d rows, %v:\n%s", n, err, index())
	}
	if err := os.WriteFile(filepath.Join(dir, IndexRecord), []byte("{not json"), 0o644); err != nil {
		t.Fatal(err)
	}
	if n, err := UpdateIndex(dir, second, []IndexEntry{{Notebook: "nb/02_b.ipynb", HTML: b}}); err != nil || n != 1 {
		t.Errorf("with a damaged %s: %d rows, %v", IndexRecord, n, err)
	}
}

// TestNotebooksCheckWhatTheyShow: every notebook states at least one property
// of what it shows through kernel.Check, so that a report whose figures
// contradict its prose fails instead of rendering.
func TestNotebooksCheckWhatTheyShow(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join("..", "notebooks", "*.ipynb"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks found: %v", err)
	}
	for _, p := range paths {
		cells, err := readNotebookCells(p)
		if err != nil {
			t.Fatal(err)
		}
		checks := 0
		for _, c := range cells {
			if c.CellType == "code" {
				checks += strings.Count(joinText(c.Source), "kernel.Check(")
			}
		}
		if checks == 0 {
			t.Errorf("%s checks nothing it shows: add a kernel.Check of a property its prose states", filepath.Base(p))
		}
	}
}
