package buildinfo

import (
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
)

func TestFromBuildInfo(t *testing.T) {
	bi := &debug.BuildInfo{
		GoVersion: "go1.26.0",
		Main:      debug.Module{Path: "github.com/veil-telemetry/veil", Version: "v0.0.0-20260102030405-0123456789ab+dirty"},
		Settings: []debug.BuildSetting{
			{Key: "GOOS", Value: "linux"},
			{Key: "GOARCH", Value: "amd64"},
			{Key: "vcs", Value: "git"},
			{Key: "vcs.revision", Value: "0123456789abcdef0123456789abcdef01234567"},
			{Key: "vcs.time", Value: "2026-01-02T03:04:05Z"},
			{Key: "vcs.modified", Value: "true"},
		},
	}
	i := FromBuildInfo(bi)
	want := Info{
		Path: "github.com/veil-telemetry/veil", Version: "v0.0.0-20260102030405-0123456789ab+dirty",
		Revision: "0123456789abcdef0123456789abcdef01234567", Time: "2026-01-02T03:04:05Z", Modified: true,
		GoVersion: "go1.26.0", Platform: "linux/amd64",
	}
	if i != want {
		t.Fatalf("got %+v\nwant %+v", i, want)
	}
	wantText := `veil v0.0.0-20260102030405-0123456789ab+dirty
module   github.com/veil-telemetry/veil
revision 0123456789abcdef0123456789abcdef01234567 (2026-01-02T03:04:05Z, modified)
go       go1.26.0 linux/amd64
`
	if got := i.String(); got != wantText {
		t.Errorf("String:\n%s\nwant:\n%s", got, wantText)
	}
}

func TestStringMarksWhatIsNotRecorded(t *testing.T) {
	got := Info{Version: "(devel)", GoVersion: "go1.26.0"}.String()
	for _, want := range []string{"veil (devel)\n", "module   unknown\n", "revision unknown\n", "go       go1.26.0\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("%q lacks %q", got, want)
		}
	}
}

// TestRead reads the test binary's own build information: the toolchain
// that built it is the one running it.
func TestRead(t *testing.T) {
	i := Read()
	if i.GoVersion != runtime.Version() {
		t.Errorf("GoVersion %q, want %q", i.GoVersion, runtime.Version())
	}
	if i.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("Platform %q", i.Platform)
	}
}
