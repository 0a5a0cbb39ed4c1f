// Package codelimits measures the module's functions against the limits in
// the README's "Complexity limits": outside tests and generated code, no
// function has more than MaxLines lines or a cyclomatic complexity over
// MaxComplexity. Complexity is counted the way gocyclo counts it, so the
// test of this package and
//
//	go run github.com/fzipp/gocyclo/cmd/gocyclo@v0.6.0 -over 15 -ignore '_test\.go$' .
//
// name the same functions.
package codelimits

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// The limits.
const (
	MaxComplexity = 15
	MaxLines      = 60
)

// Func is one measured function.
type Func struct {
	Path       string // slash-separated, relative to the root measured
	Line       int    // of the func keyword
	Pkg        string // package name
	Name       string // as gocyclo names it: F, (T).M or (*T).M
	Complexity int    // cyclomatic complexity, as gocyclo counts it
	Lines      int    // from the func keyword to the closing brace
}

func (f Func) String() string {
	return fmt.Sprintf("%s:%d: %s %s", f.Path, f.Line, f.Pkg, f.Name)
}

// Measure measures every function of the Go files under root that are
// neither tests (_test.go) nor generated ("Code generated ... DO NOT
// EDIT."). Like the go command and gocyclo it skips testdata and vendor
// directories and those whose names start with "." or "_"; it also skips
// nested modules (a directory with its own go.mod).
func Measure(root string) ([]Func, error) {
	var funcs []Func
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if path != root && skipDir(path, d.Name()) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		found, err := measureFile(root, path)
		funcs = append(funcs, found...)
		return err
	})
	return funcs, err
}

// skipDir reports whether the directory at path, named name, is left out.
func skipDir(path, name string) bool {
	if name == "testdata" || name == "vendor" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
		return true
	}
	_, err := os.Stat(filepath.Join(path, "go.mod"))
	return err == nil
}

// measureFile measures the functions of one file, none if it is generated.
func measureFile(root, path string) ([]Func, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, nil, parser.ParseComments)
	if err != nil {
		return nil, err
	}
	if ast.IsGenerated(f) {
		return nil, nil
	}
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return nil, err
	}
	var funcs []Func
	add := func(fn ast.Node, name string) {
		start, end := fset.Position(fn.Pos()), fset.Position(fn.End())
		funcs = append(funcs, Func{
			Path: filepath.ToSlash(rel), Line: start.Line, Pkg: f.Name.Name, Name: name,
			Complexity: Complexity(fn), Lines: end.Line - start.Line + 1,
		})
	}
	for _, decl := range f.Decls {
		switch decl := decl.(type) {
		case *ast.FuncDecl:
			add(decl, funcName(decl))
		case *ast.GenDecl:
			// Like gocyclo: a package-level variable initialised with a
			// function literal is measured as a function.
			for _, spec := range decl.Specs {
				vs, ok := spec.(*ast.ValueSpec)
				if !ok {
					continue
				}
				for _, v := range vs.Values {
					if lit, ok := v.(*ast.FuncLit); ok {
						add(lit, vs.Names[0].Name)
					}
				}
			}
		}
	}
	return funcs, nil
}

// Complexity returns the cyclomatic complexity of fn (a function
// declaration or literal) as gocyclo counts it: 1, plus one for each if,
// for, range, case other than default, select case other than default, &&
// and ||, function literals inside fn included.
func Complexity(fn ast.Node) int {
	c := 1
	ast.Inspect(fn, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt:
			c++
		case *ast.CaseClause:
			if n.List != nil {
				c++
			}
		case *ast.CommClause:
			if n.Comm != nil {
				c++
			}
		case *ast.BinaryExpr:
			if n.Op == token.LAND || n.Op == token.LOR {
				c++
			}
		}
		return true
	})
	return c
}

// funcName names a function or method the way gocyclo does.
func funcName(fn *ast.FuncDecl) string {
	if fn.Recv == nil || fn.Recv.NumFields() == 0 {
		return fn.Name.Name
	}
	return "(" + recvString(fn.Recv.List[0].Type) + ")." + fn.Name.Name
}

func recvString(t ast.Expr) string {
	switch t := t.(type) {
	case *ast.Ident:
		return t.Name
	case *ast.StarExpr:
		return "*" + recvString(t.X)
	case *ast.IndexExpr:
		return recvString(t.X)
	case *ast.IndexListExpr:
		return recvString(t.X)
	}
	return "BADRECV"
}
