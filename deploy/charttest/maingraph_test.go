package charttest

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMainModuleStaysLean checks the reason this module exists: users of
// veil's SDK must never download Helm or the Kubernetes modules, so the
// main module's go.mod and go.sum name none of them.
func TestMainModuleStaysLean(t *testing.T) {
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join("..", "..", f))
		if err != nil {
			t.Fatal(err)
		}
		for _, mod := range []string{"helm.sh/", "k8s.io/", "sigs.k8s.io/"} {
			if strings.Contains(string(b), mod) {
				t.Errorf("the main module's %s names %s modules", f, mod)
			}
		}
	}
}
