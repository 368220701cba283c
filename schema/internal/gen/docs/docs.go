// Package docs reads the doc comments of the config types from source, so
// the JSON Schema's descriptions are the Go doc comments and never drift.
package docs

import (
	"fmt"
	"go/ast"
	"go/doc"
	"go/parser"
	"go/token"
	"os"
	"strings"
)

// Read returns "Type" and "Type.Field" doc comments of the package in dir.
func Read(dir string) (map[string]string, error) {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", dir, err)
	}
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, dir+"/"+name, nil, parser.ParseComments)
		if err != nil {
			return nil, fmt.Errorf("parsing %s: %w", name, err)
		}
		files = append(files, f)
	}
	pkg, err := doc.NewFromFiles(fset, files, "github.com/mirrord-go/mirrord/schema", doc.PreserveAST)
	if err != nil {
		return nil, fmt.Errorf("reading docs: %w", err)
	}
	out := map[string]string{}
	for _, t := range pkg.Types {
		out[t.Name] = clean(t.Doc)
		spec, ok := t.Decl.Specs[0].(*ast.TypeSpec)
		if !ok {
			continue
		}
		st, ok := spec.Type.(*ast.StructType)
		if !ok {
			continue
		}
		for _, f := range st.Fields.List {
			for _, n := range f.Names {
				out[t.Name+"."+n.Name] = clean(f.Doc.Text())
			}
		}
	}
	return out, nil
}

func clean(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", " ")), " ")
}
