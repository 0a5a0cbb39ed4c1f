package config

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var updateReference = flag.Bool("update", false, "rewrite docs/configuration.md from the code")

// referencePath is the checked-in reference, relative to this package.
var referencePath = filepath.Join("..", "..", "docs", "configuration.md")

// TestReferenceIsCurrent fails when docs/configuration.md is not what the
// code generates; `make docs` (go test -run TestReferenceIsCurrent -update)
// rewrites it.
func TestReferenceIsCurrent(t *testing.T) {
	var b bytes.Buffer
	if err := WriteReference(&b); err != nil {
		t.Fatal(err)
	}
	if *updateReference {
		if err := os.WriteFile(referencePath, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	got, err := os.ReadFile(referencePath)
	if err != nil {
		t.Fatalf("%v (run make docs)", err)
	}
	if !bytes.Equal(got, b.Bytes()) {
		t.Errorf("%s is out of date: run make docs", referencePath)
	}
}

// TestReferenceCoversEveryKey fails when a YAML-only key has no text in
// yamlDocs, or yamlDocs describes a key that no longer exists.
func TestReferenceCoversEveryKey(t *testing.T) {
	seen := map[string]bool{}
	for _, k := range yamlOnlyKeys() {
		seen[k.path] = true
		if strings.TrimSpace(yamlDocs[k.path]) == "" {
			t.Errorf("yamlDocs has no text for %q", k.path)
		}
	}
	for k := range yamlDocs {
		if !seen[k] {
			t.Errorf("yamlDocs describes %q, which is not a YAML-only key", k)
		}
	}
}

// TestReferenceListsEveryFlag: every bound key appears in the reference
// with its flag and variable, so a new flag cannot go undocumented.
func TestReferenceListsEveryFlag(t *testing.T) {
	var b bytes.Buffer
	if err := WriteReference(&b); err != nil {
		t.Fatal(err)
	}
	def := Default()
	for _, x := range bindings(&def) {
		row := "| `" + x.key + "` | `--" + x.flag() + "` | `" + x.env() + "` |"
		if !strings.Contains(b.String(), row) {
			t.Errorf("reference lacks the row of %s", x.key)
		}
	}
}
