package kernel

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// TestNotebooksCompile type-checks the Go code of every notebook the way GoNB
// assembles it, without Jupyter: the declarations of all cells (a later
// declaration of a name replaces the earlier one), the imports of all cells,
// and the body after each "%%" as a function of its own. An API change in the
// library that a notebook still calls the old way fails here, in seconds,
// instead of as failed cells of a report run.
//
// Like GoNB, it runs goimports on the program first; everything the compiler
// then reports fails the test.
func TestNotebooksCompile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a program of each notebook")
	}
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goCmd); err != nil {
		t.Skipf("no go command: %v", err)
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	paths, err := filepath.Glob(filepath.Join(root, "notebooks", "*.ipynb"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no notebooks found: %v", err)
	}
	dir := t.TempDir()
	// The module of the notebooks' programs, as notebook cell 2 sets it up:
	// the library from this checkout, the rest at the versions it pins.
	goMod := fmt.Sprintf(`module notebookcheck

go 1.26.8

require (
	github.com/diffusion-go/ddpm v0.0.0-00010101000000-000000000000
	github.com/janpfeifer/must v0.2.0
)

replace github.com/diffusion-go/ddpm => %s
`, root)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(goMod), 0o644); err != nil {
		t.Fatal(err)
	}
	var sum []byte
	for _, f := range []string{"go.sum", filepath.Join("kernel", "tools", "go.sum")} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil {
			t.Fatal(err)
		}
		sum = append(sum, b...)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.sum"), sum, 0o644); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{} // package folder -> notebook
	for _, p := range paths {
		src, err := notebookProgram(p)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(p), err)
		}
		pkg := "nb_" + strings.TrimSuffix(filepath.Base(p), ".ipynb")
		if err := os.MkdirAll(filepath.Join(dir, pkg), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, pkg, "main.go"), src, 0o644); err != nil {
			t.Fatal(err)
		}
		files[pkg] = filepath.Base(p)
	}
	// GoNB runs goimports on the program: it adds the standard library's
	// imports that cells leave out (fmt, math) and removes unused ones.
	var mains []string
	for pkg := range files {
		mains = append(mains, filepath.Join(dir, pkg, "main.go"))
	}
	imp := exec.Command(goCmd, append([]string{"tool", "goimports", "-w"}, mains...)...)
	imp.Dir = filepath.Join(root, "kernel", "tools") // the module that pins goimports
	imp.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("goimports: %v\n%s", err, out)
	}
	// Several main packages at once: go build compiles them and links none.
	cmd := exec.Command(goCmd, "build", "-mod=mod", "-gcflags=-e", "./...")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		return
	}
	var problems []string
	for _, line := range strings.Split(string(out), "\n") {
		if line == "" || strings.HasPrefix(line, "# ") {
			continue
		}
		for pkg, nb := range files { // name the notebook, not the generated file
			line = strings.ReplaceAll(line, pkg+"/main.go", nb+" (generated program)")
		}
		problems = append(problems, line)
	}
	if len(problems) > 0 {
		t.Errorf("the notebooks' Go code does not compile (%v):\n%s", err, strings.Join(problems, "\n"))
	}
}

// notebookCell is a cell of a notebook file, as the tests read it.
type notebookCell struct {
	CellType string          `json:"cell_type"`
	Source   json.RawMessage `json:"source"`
}

// readNotebookCells reads the cells of a notebook file.
func readNotebookCells(path string) ([]notebookCell, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var nb struct {
		Cells []notebookCell `json:"cells"`
	}
	if err := json.Unmarshal(b, &nb); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Base(path), err)
	}
	return nb.Cells, nil
}

// notebookProgram assembles one notebook's Go cells into a single program.
func notebookProgram(path string) ([]byte, error) {
	cells, err := readNotebookCells(path)
	if err != nil {
		return nil, err
	}
	imports := map[string]string{} // path -> the import line
	var order []string             // declaration keys in order of first appearance
	decls := map[string]string{}
	var bodies []string
	for i, c := range cells {
		if c.CellType != "code" {
			continue
		}
		var declLines, bodyLines []string
		inBody := false
		for _, line := range strings.Split(joinText(c.Source), "\n") {
			switch {
			case strings.HasPrefix(line, "%%"):
				inBody = true
			case strings.HasPrefix(line, "%") || strings.HasPrefix(line, "!"):
				// GoNB's special commands and shell lines
			case inBody:
				bodyLines = append(bodyLines, line)
			default:
				declLines = append(declLines, line)
			}
		}
		if inBody {
			bodies = append(bodies, fmt.Sprintf("// cell %d\nfunc cell%d() {\n%s\n}\n", i, i, strings.Join(bodyLines, "\n")))
		}
		src := "package main\n" + strings.Join(declLines, "\n")
		fset := token.NewFileSet()
		f, err := parser.ParseFile(fset, "", src, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("cell %d: %v", i, err)
		}
		for _, d := range f.Decls {
			text := src[fset.Position(d.Pos()).Offset:fset.Position(d.End()).Offset]
			var key string
			switch d := d.(type) {
			case *ast.FuncDecl:
				key = "func " + d.Name.Name
				if d.Recv != nil && len(d.Recv.List) > 0 {
					key += " on " + src[fset.Position(d.Recv.Pos()).Offset:fset.Position(d.Recv.End()).Offset]
				}
			case *ast.GenDecl:
				if d.Tok == token.IMPORT {
					for _, s := range d.Specs {
						s := s.(*ast.ImportSpec)
						imports[s.Path.Value] = src[fset.Position(s.Pos()).Offset:fset.Position(s.End()).Offset]
					}
					continue
				}
				var names []string
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.ValueSpec:
						for _, n := range s.Names {
							names = append(names, n.Name)
						}
					case *ast.TypeSpec:
						names = append(names, s.Name.Name)
					}
				}
				key = d.Tok.String() + " " + strings.Join(names, ",")
			}
			if _, ok := decls[key]; !ok {
				order = append(order, key)
			}
			decls[key] = text
		}
	}
	var out bytes.Buffer
	out.WriteString("package main\n\nimport (\n")
	paths := make([]string, 0, len(imports))
	for p := range imports {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	for _, p := range paths {
		out.WriteString("\t" + imports[p] + "\n")
	}
	out.WriteString(")\n\n")
	for _, k := range order {
		out.WriteString(decls[k] + "\n\n")
	}
	out.WriteString("func main() {}\n\n")
	out.WriteString(strings.Join(bodies, "\n"))
	return out.Bytes(), nil
}
