package dp

import (
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNoFloatingPoint type-checks the package's own (non-test) files and
// fails when any expression, declaration or signature has a floating-point
// or complex type anywhere inside it: the noise path is integers and
// rationals only, so a float cannot creep in through a helper.
func TestNoFloatingPoint(t *testing.T) {
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		src, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(fset, n, src, 0)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) < 4 {
		t.Fatalf("found %d source files; is the test running in the package directory?", len(files))
	}
	info := &types.Info{
		Types: map[ast.Expr]types.TypeAndValue{},
		Defs:  map[*ast.Ident]types.Object{},
		Uses:  map[*ast.Ident]types.Object{},
	}
	conf := types.Config{Importer: importer.ForCompiler(fset, "source", nil)}
	if _, err := conf.Check("github.com/veil-telemetry/veil/internal/dp", fset, files, info); err != nil {
		t.Fatal(err)
	}
	checked := 0
	for e, tv := range info.Types {
		checked++
		if tv.Type != nil && hasFloat(tv.Type, map[types.Type]bool{}) {
			t.Errorf("%s: expression of type %s", fset.Position(e.Pos()), tv.Type)
		}
	}
	for id, obj := range info.Defs {
		if obj != nil && hasFloat(obj.Type(), map[types.Type]bool{}) {
			t.Errorf("%s: %s declared with type %s", fset.Position(id.Pos()), id.Name, obj.Type())
		}
	}
	for id, obj := range info.Uses {
		if _, isFunc := obj.(*types.Func); isFunc && hasFloat(obj.Type(), map[types.Type]bool{}) {
			t.Errorf("%s: uses %s of type %s", fset.Position(id.Pos()), id.Name, obj.Type())
		}
	}
	if checked < 100 {
		t.Fatalf("only %d expressions checked", checked)
	}
	// The check itself must be able to fail.
	if !hasFloat(types.NewPointer(types.NewSlice(types.Typ[types.Float64])), map[types.Type]bool{}) {
		t.Fatal("hasFloat misses *[]float64")
	}
}

// hasFloat reports whether typ is or contains a float or complex type
// (untyped constants included), looking through pointers, containers,
// signatures and struct fields; named types from other packages count by
// their underlying type.
func hasFloat(typ types.Type, seen map[types.Type]bool) bool {
	if seen[typ] {
		return false
	}
	seen[typ] = true
	switch t := typ.(type) {
	case *types.Basic:
		return t.Info()&(types.IsFloat|types.IsComplex) != 0
	case *types.Pointer:
		return hasFloat(t.Elem(), seen)
	case *types.Slice:
		return hasFloat(t.Elem(), seen)
	case *types.Array:
		return hasFloat(t.Elem(), seen)
	case *types.Map:
		return hasFloat(t.Key(), seen) || hasFloat(t.Elem(), seen)
	case *types.Chan:
		return hasFloat(t.Elem(), seen)
	case *types.Tuple:
		for i := range t.Len() {
			if hasFloat(t.At(i).Type(), seen) {
				return true
			}
		}
	case *types.Signature:
		return hasFloat(t.Params(), seen) || hasFloat(t.Results(), seen)
	case *types.Struct:
		for i := range t.NumFields() {
			if hasFloat(t.Field(i).Type(), seen) {
				return true
			}
		}
	case *types.Named:
		// big.Rat and big.Int are structs of integers; their float
		// methods (Float64) are caught where they are called.
		return hasFloat(t.Underlying(), seen)
	case *types.Alias:
		return hasFloat(types.Unalias(t), seen)
	}
	return false
}
