package engine_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/semcache/semcache/"

// layer names the part of the module a package belongs to.
func layer(importPath string) string {
	p := strings.TrimPrefix(importPath, module)
	for _, l := range []string{"cmd", "proxy", "engine", "cache", "rag", "wire", "embed", "vectorstore", "httpapi", "bench"} {
		if p == l || strings.HasPrefix(p, l+"/") {
			return l
		}
	}
	return p
}

// forbidden lists, per layer, the layers it must not depend on, directly
// or through another package. Data flows one way: the fronts (proxy, its
// ext_proc front, cmd) → engine → cache / rag / wire (the API wire
// formats) → embed / vectorstore. Nothing below the engine knows a front
// or the engine; the wire formats know no retrieval or storage backend.
var forbidden = map[string][]string{
	"engine":      {"proxy", "cmd", "bench"},
	"cache":       {"engine", "proxy", "cmd", "rag", "wire", "bench"},
	"rag":         {"engine", "proxy", "cmd", "bench"},
	"wire":        {"engine", "proxy", "cmd", "rag", "bench"},
	"embed":       {"engine", "proxy", "cmd", "cache", "rag", "wire", "vectorstore", "bench"},
	"vectorstore": {"engine", "proxy", "cmd", "cache", "rag", "wire", "embed", "bench"},
	"httpapi":     {"engine", "proxy", "cmd", "cache", "rag", "wire", "embed", "vectorstore", "bench"},
	"proxy":       {"cmd"},
}

// directOnly are edges forbidden as direct imports. rag reads requests
// through wire/chat, never the cache's types. The wire formats produce
// and read the cache's endpoint-neutral types (cache.Lookup, cache.Answer)
// and so link the cache's tiers through them, but never use an embedder
// or a vector store themselves.
var directOnly = map[string][]string{
	"rag":  {"cache"},
	"wire": {"embed", "vectorstore"},
}

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
	Standard   bool
}

// TestImportDirections checks the dependency directions of every package
// of the module (go list -deps -json ./...).
func TestImportDirections(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "-json", "./...")
	cmd.Dir = ".."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	checked := 0
	for {
		var p pkg
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(p.ImportPath, module) {
			continue
		}
		checked++
		from := layer(p.ImportPath)
		for _, d := range p.Deps {
			if !strings.HasPrefix(d, module) {
				continue
			}
			to := layer(d)
			for _, f := range forbidden[from] {
				if to == f {
					t.Errorf("%s depends on %s (%s must not depend on %s)", p.ImportPath, d, from, f)
				}
			}
		}
		for _, d := range p.Imports {
			for _, f := range directOnly[from] {
				if layer(d) == f {
					t.Errorf("%s imports %s (%s must not import %s)", p.ImportPath, d, from, f)
				}
			}
		}
	}
	if checked < 20 {
		t.Fatalf("only %d packages of the module listed", checked)
	}
}
