// Package buildinfo describes the running binary as the Go toolchain
// recorded it (runtime/debug.ReadBuildInfo): the main module's version, the
// version-control revision it was built from, and the Go version.
package buildinfo

import (
	"fmt"
	"runtime/debug"
	"strings"
)

// unknown stands in for what the binary does not record (a build without
// module support, or outside a version-control checkout).
const unknown = "unknown"

// Info is what a binary records about its build. Empty fields were not
// recorded.
type Info struct {
	// Path is the main module's path.
	Path string
	// Version is the main module's version: a tag, a pseudo-version
	// derived from the revision (with "+dirty" when the checkout had
	// changes), or "(devel)".
	Version string
	// Revision is the version-control revision, Time its commit time
	// (RFC 3339) and Modified whether the checkout had uncommitted
	// changes.
	Revision string
	Time     string
	Modified bool
	// GoVersion is the toolchain that built the binary; Platform its
	// GOOS/GOARCH.
	GoVersion string
	Platform  string
}

// Read returns the running binary's Info.
func Read() Info {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return Info{}
	}
	return FromBuildInfo(bi)
}

// FromBuildInfo extracts an Info from bi.
func FromBuildInfo(bi *debug.BuildInfo) Info {
	i := Info{Path: bi.Main.Path, Version: bi.Main.Version, GoVersion: bi.GoVersion}
	var goos, goarch string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			i.Revision = s.Value
		case "vcs.time":
			i.Time = s.Value
		case "vcs.modified":
			i.Modified = s.Value == "true"
		case "GOOS":
			goos = s.Value
		case "GOARCH":
			goarch = s.Value
		}
	}
	if goos != "" && goarch != "" {
		i.Platform = goos + "/" + goarch
	}
	return i
}

// String describes the build in four lines, for `veil version`:
//
//	veil v1.2.3
//	module   github.com/veil-telemetry/veil
//	revision 0123abcd… (2026-01-02T03:04:05Z, modified)
//	go       go1.26.0 linux/amd64
func (i Info) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "veil %s\n", or(i.Version))
	fmt.Fprintf(&b, "module   %s\n", or(i.Path))
	rev := or(i.Revision)
	var notes []string
	if i.Time != "" {
		notes = append(notes, i.Time)
	}
	if i.Modified {
		notes = append(notes, "modified")
	}
	if len(notes) > 0 {
		rev += " (" + strings.Join(notes, ", ") + ")"
	}
	fmt.Fprintf(&b, "revision %s\n", rev)
	goVer := or(i.GoVersion)
	if i.Platform != "" {
		goVer += " " + i.Platform
	}
	fmt.Fprintf(&b, "go       %s\n", goVer)
	return b.String()
}

func or(s string) string {
	if s == "" {
		return unknown
	}
	return s
}
