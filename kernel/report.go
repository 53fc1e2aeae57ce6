package kernel

import (
	"bytes"
	"encoding/json"
	"fmt"
	stdhtml "html"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// CellFailure is a failed cell of an executed notebook.
type CellFailure struct {
	Cell    int    // Index of the cell in the notebook.
	Message string // What failed, from the cell's outputs.
}

// failureMarkers are stderr lines by which a GoNB cell reports that its
// program failed at run time: nbconvert does not see those as errors.
var failureMarkers = []string{"panic:", "exit status ", "[[error]]", "fatal error:"}

// ScanNotebook returns the failed cells of an executed notebook (.ipynb
// JSON): error outputs, and stderr streams carrying a panic or a non-zero exit.
func ScanNotebook(ipynb []byte) ([]CellFailure, error) {
	var nb struct {
		Cells []struct {
			CellType string          `json:"cell_type"`
			Source   json.RawMessage `json:"source"`
			Outputs  []struct {
				OutputType string          `json:"output_type"`
				Name       string          `json:"name"`
				Text       json.RawMessage `json:"text"`
				EName      string          `json:"ename"`
				EValue     string          `json:"evalue"`
			} `json:"outputs"`
		} `json:"cells"`
	}
	if err := json.Unmarshal(ipynb, &nb); err != nil {
		return nil, fmt.Errorf("not a notebook: %w", err)
	}
	var fails []CellFailure
	for i, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		if len(c.Outputs) == 0 && strings.Contains(joinText(c.Source), "gonbui.Display") {
			fails = append(fails, CellFailure{Cell: i, Message: "the cell displays but shows nothing: its output was lost (end the cell with gonbui.Sync())"})
		}
		for _, o := range c.Outputs {
			switch {
			case o.OutputType == "error":
				fails = append(fails, CellFailure{Cell: i, Message: strings.TrimSpace(o.EName + ": " + o.EValue)})
			case o.OutputType == "stream" && o.Name == "stderr":
				text := joinText(o.Text)
				for _, line := range strings.Split(text, "\n") {
					for _, m := range failureMarkers {
						if strings.Contains(line, m) {
							fails = append(fails, CellFailure{Cell: i, Message: strings.TrimSpace(line)})
						}
					}
				}
			}
		}
	}
	return fails, nil
}

// joinText decodes a notebook text field: a string or a list of strings.
func joinText(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []string
	_ = json.Unmarshal(raw, &parts)
	return strings.Join(parts, "")
}

// KernelName is the Jupyter kernel the notebooks name and kernel/install.sh
// registers: GoNB with this project's tools and plugin path, under its own
// name so that a user's own "gonb" kernel is left alone.
const KernelName = "gonb-ddpm"

// RunOptions configures RunNotebook.
type RunOptions struct {
	Jupyter   string        // The jupyter executable.
	Kernel    string        // Kernel name (KernelName).
	ReportDir string        // Where the HTML report goes.
	WorkDir   string        // Where the executed notebook (.ipynb) goes.
	Timeout   time.Duration // Per cell.
	Env       []string      // Extra environment for the kernel.
	// MathJaxURL, when set, is where the report loads MathJax from (e.g. a
	// path relative to the report, for reports that work offline); the
	// report then loads nothing else from the network.
	MathJaxURL string
	LogCommand func(cmd string)
}

// Result of running one notebook.
type Result struct {
	Notebook string
	HTML     string        // The report, written even when cells failed.
	Failures []CellFailure // Empty when every cell succeeded.
	Elapsed  time.Duration
}

// RunNotebook executes a notebook headless with nbconvert, scans it for
// failed cells and exports it to HTML. An error means the notebook could not
// be run or exported at all; failed cells are reported in Result.Failures.
func RunNotebook(path string, o RunOptions) (*Result, error) {
	start := time.Now()
	base := strings.TrimSuffix(filepath.Base(path), ".ipynb")
	var err error
	if o.ReportDir, err = filepath.Abs(o.ReportDir); err != nil { // nbconvert runs in the notebook's folder.
		return nil, err
	}
	if o.WorkDir, err = filepath.Abs(o.WorkDir); err != nil {
		return nil, err
	}
	for _, d := range []string{o.ReportDir, o.WorkDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	absNB, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	execArgs := []string{"nbconvert", "--to", "notebook", "--execute",
		"--ExecutePreprocessor.kernel_name=" + o.Kernel,
		fmt.Sprintf("--ExecutePreprocessor.timeout=%d", int(o.Timeout.Seconds())),
		"--ExecutePreprocessor.allow_errors=True",
		"--output-dir", o.WorkDir, "--output", base + ".executed.ipynb", absNB}
	run := func(args ...string) ([]byte, error) {
		cmd := exec.Command(o.Jupyter, args...)
		cmd.Dir = filepath.Dir(absNB) // The kernel starts in the notebook's folder.
		cmd.Env = append(os.Environ(), o.Env...)
		if o.LogCommand != nil {
			o.LogCommand(strings.Join(append([]string{o.Jupyter}, args...), " "))
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		return out.Bytes(), err
	}
	res := &Result{Notebook: path}
	executed := filepath.Join(o.WorkDir, base+".executed.ipynb")
	if err := os.Remove(executed); err != nil && !os.IsNotExist(err) { // Never report a previous run.
		return nil, err
	}
	if out, err := run(execArgs...); err != nil {
		// nbconvert fails outright on a compile error, a timeout or a dead kernel.
		res.Failures = append(res.Failures, CellFailure{Cell: -1, Message: "nbconvert --execute failed: " + lastLines(string(out), 15)})
	}
	ipynb, err := os.ReadFile(executed)
	if err != nil {
		res.Elapsed = time.Since(start)
		if len(res.Failures) > 0 {
			return res, nil
		}
		return nil, fmt.Errorf("%s: no executed notebook: %w", path, err)
	}
	fails, err := ScanNotebook(ipynb)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", executed, err)
	}
	res.Failures = append(res.Failures, fails...)
	if titled, err := WithTitle(ipynb); err == nil { // A notebook that is not JSON was reported above.
		if err := os.WriteFile(executed, titled, 0o644); err != nil {
			return nil, err
		}
	}
	htmlArgs := []string{"nbconvert", "--to", "html", "--output-dir", o.ReportDir, "--output", base + ".html"}
	if o.MathJaxURL != "" {
		htmlArgs = append(htmlArgs, "--HTMLExporter.mathjax_url="+o.MathJaxURL, "--HTMLExporter.require_js_url=")
	}
	if out, err := run(append(htmlArgs, executed)...); err != nil {
		return nil, fmt.Errorf("%s: exporting HTML: %v: %s", path, err, lastLines(string(out), 10))
	}
	res.HTML = filepath.Join(o.ReportDir, base+".html")
	if o.MathJaxURL != "" {
		b, err := os.ReadFile(res.HTML)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(res.HTML, Offline(b), 0o644); err != nil {
			return nil, err
		}
	}
	res.Elapsed = time.Since(start)
	return res, nil
}

// WithTitle sets a notebook's metadata title, which nbconvert's HTML
// templates use as the page title in place of the file name, to the text of
// its first markdown heading ("# 1. The forward process" gives "1. The
// forward process"). A notebook with a title, or without a heading, is
// returned as it is.
func WithTitle(ipynb []byte) ([]byte, error) {
	var nb map[string]any
	if err := json.Unmarshal(ipynb, &nb); err != nil {
		return nil, fmt.Errorf("not a notebook: %w", err)
	}
	meta, _ := nb["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
	}
	if t, _ := meta["title"].(string); t != "" {
		return ipynb, nil
	}
	cells, _ := nb["cells"].([]any)
	for _, c := range cells {
		cell, _ := c.(map[string]any)
		if cell["cell_type"] != "markdown" {
			continue
		}
		src, err := json.Marshal(cell["source"])
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(joinText(src), "\n") {
			if h, ok := strings.CutPrefix(strings.TrimSpace(line), "# "); ok && strings.TrimSpace(h) != "" {
				meta["title"] = strings.TrimSpace(h)
				nb["metadata"] = meta
				return json.MarshalIndent(nb, "", " ")
			}
		}
	}
	return ipynb, nil
}

// Offline removes what an nbconvert report would fetch from the network
// besides MathJax (given its own URL): the require.js script tag, which
// nbconvert's lab template keeps even with an empty URL, and which only
// interactive widgets use.
func Offline(html []byte) []byte {
	return bytes.ReplaceAll(html, []byte(`<script src=""></script>`), nil)
}

// RemoteURLs lists the http(s) URLs that an HTML report loads as scripts,
// stylesheets or images (links to read elsewhere are not counted).
func RemoteURLs(html []byte) []string {
	var out []string
	for _, m := range remoteLoad.FindAllSubmatch(html, -1) {
		out = append(out, string(m[1]))
	}
	return out
}

var remoteLoad = regexp.MustCompile(`<(?:script|img|link)[^>]*(?:src|href)="(https?://[^"]*)"`)

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

var embeddedPNG = regexp.MustCompile(`<img[^>]*\ssrc="data:image/png;base64,`)

// CountEmbeddedImages counts the PNG images embedded in an HTML report (the
// img tags, not the template's CSS, which also mentions data:image/png).
func CountEmbeddedImages(html []byte) int {
	return len(embeddedPNG.FindAllIndex(html, -1))
}

// IndexEntry is one report in the index page.
type IndexEntry struct {
	Notebook string        `json:"notebook"` // Path of the notebook.
	HTML     string        `json:"html"`     // Path of its report (in index.json: relative to the folder).
	Elapsed  time.Duration `json:"elapsed"`  // Run time.
	Failed   int           `json:"failed"`   // Failed cells (0: all green).
	// Run is the run that made the report (UpdateIndex fills it in);
	// WriteIndex marks a row whose run is not the index's as an earlier one.
	Run IndexInfo `json:"run"`
}

// IndexInfo is what the index says of the whole run.
type IndexInfo struct {
	Size    string    `json:"size"` // "small" (the default) or "full" (DDPM_FULL=1).
	Backend string    `json:"backend"`
	Commit  string    `json:"commit"`
	Date    time.Time `json:"date"`
}

// WriteIndex writes dir/index.html: one row per report with its title (the
// notebook's first heading), a thumbnail (its first image), the run time and
// whether every cell passed, under a line with the run's size, backend and
// commit. Links are relative, so the folder can be handed out as it is.
func WriteIndex(dir string, info IndexInfo, entries []IndexEntry) error {
	var b strings.Builder
	esc := stdhtml.EscapeString
	fmt.Fprintf(&b, `<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>DDPM in Go: reports</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}
td,th{padding:.5em;border-bottom:1px solid #ddd;vertical-align:middle;text-align:left}
img{max-width:16em;max-height:8em;border:1px solid #ccc}.fail{color:#b00}</style></head><body>
<h1>Denoising Diffusion Probabilistic Models in Go: the reports</h1>
<p>Run %s: %s size; %s; commit %s.</p>
<table><tr><th>report</th><th>first figure</th><th>run time</th><th>cells</th></tr>
`, esc(info.Date.UTC().Format("2006-01-02 15:04 MST")), esc(info.Size), esc(info.Backend), esc(info.Commit))
	for _, e := range entries {
		earlier := ""
		if !e.Run.Date.IsZero() && !e.Run.Date.Equal(info.Date) {
			earlier = fmt.Sprintf(`<br><small>from an earlier run, %s: %s size, commit %s</small>`,
				esc(e.Run.Date.UTC().Format("2006-01-02 15:04 MST")), esc(e.Run.Size), esc(e.Run.Commit))
		}
		page, err := os.ReadFile(e.HTML)
		if err != nil {
			return err
		}
		title := strings.TrimSuffix(filepath.Base(e.Notebook), ".ipynb")
		if m := firstHeading.FindSubmatch(page); m != nil {
			title = strings.TrimSpace(tagRE.ReplaceAllString(string(m[1]), ""))
			title = strings.TrimSuffix(strings.TrimSpace(stdhtml.UnescapeString(title)), "¶")
		}
		thumb := ""
		if m := firstImage.Find(page); m != nil {
			thumb = fmt.Sprintf(`<img alt="first figure of %s" src="%s">`, esc(title), m[len(`src="`):len(m)-1])
		}
		status := `<span>all passed</span>`
		if e.Failed > 0 {
			status = fmt.Sprintf(`<span class="fail">%d failed</span>`, e.Failed)
		}
		fmt.Fprintf(&b, "<tr><td><a href=\"%s\">%s</a>%s</td><td>%s</td><td>%s</td><td>%s</td></tr>\n",
			esc(relTo(dir, e.HTML)), esc(title), earlier, thumb, e.Elapsed.Round(time.Second), status)
	}
	b.WriteString("</table></body></html>\n")
	return WriteFile(filepath.Join(dir, "index.html"), []byte(b.String()))
}

// relTo is path relative to dir with forward slashes (its base name when it
// has no relative form), as the index links and lists reports.
func relTo(dir, path string) string {
	rel, err := filepath.Rel(dir, path)
	if err != nil {
		rel = filepath.Base(path)
	}
	return filepath.ToSlash(rel)
}

// IndexRecord is the file, in a reports folder, that lists its reports
// for UpdateIndex.
const IndexRecord = "index.json"

// UpdateIndex writes dir/index.html for this run's entries and for the
// reports of earlier runs that are still in dir, so that running one
// notebook again keeps the others in the index, each marked with the run
// that made it. The reports are listed in dir/index.json (IndexRecord); an
// entry of an earlier run is kept while its HTML file exists and no entry of
// this run has its notebook, and a missing or unreadable list starts afresh.
// The rows are sorted by notebook. It returns the number of rows.
func UpdateIndex(dir string, info IndexInfo, entries []IndexEntry) (int, error) {
	var all []IndexEntry
	seen := map[string]bool{}
	for _, e := range entries {
		e.Run = info
		all = append(all, e)
		seen[e.Notebook] = true
	}
	var old []IndexEntry
	if data, err := os.ReadFile(filepath.Join(dir, IndexRecord)); err == nil && json.Unmarshal(data, &old) == nil {
		for _, e := range old {
			if e.Notebook == "" || e.HTML == "" || seen[e.Notebook] || filepath.IsAbs(e.HTML) || strings.Contains(e.HTML, "..") {
				continue
			}
			e.HTML = filepath.Join(dir, e.HTML)
			if _, err := os.Stat(e.HTML); err != nil {
				continue
			}
			all = append(all, e)
			seen[e.Notebook] = true
		}
	}
	sort.SliceStable(all, func(i, j int) bool { return filepath.Base(all[i].Notebook) < filepath.Base(all[j].Notebook) })
	if err := WriteIndex(dir, info, all); err != nil {
		return 0, err
	}
	record := make([]IndexEntry, len(all))
	for i, e := range all {
		e.HTML = relTo(dir, e.HTML)
		record[i] = e
	}
	data, err := json.MarshalIndent(record, "", " ")
	if err != nil {
		return 0, err
	}
	return len(all), WriteFile(filepath.Join(dir, IndexRecord), append(data, '\n'))
}

var (
	firstHeading = regexp.MustCompile(`(?s)<h1[^>]*>(.*?)</h1>`)
	firstImage   = regexp.MustCompile(`src="data:image/png;base64,[A-Za-z0-9+/=]+"`)
	tagRE        = regexp.MustCompile(`<[^>]+>`)
)
