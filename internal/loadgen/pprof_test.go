package loadgen

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestFetchCPUProfile(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		if r.URL.Path != "/debug/pprof/profile" || r.URL.Query().Get("seconds") != "2" {
			http.Error(w, "bad request "+r.URL.String(), http.StatusBadRequest)
			return
		}
		w.Write([]byte("profile bytes"))
	}))
	defer srv.Close()
	path := filepath.Join(t.TempDir(), "cpu.pprof")
	if err := FetchCPUProfile(context.Background(), srv.URL, "tok", 2*time.Second, path); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path); err != nil || string(b) != "profile bytes" {
		t.Fatalf("profile file: %q, %v", b, err)
	}
	if err := FetchCPUProfile(context.Background(), srv.URL, "wrong", 2*time.Second, path); err == nil {
		t.Error("wrong token: no error")
	}
	if err := FetchCPUProfile(context.Background(), "http://192.0.2.1:1", "tok", time.Second, path); err == nil {
		t.Error("non-loopback URL accepted")
	}
}
