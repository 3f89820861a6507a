// Package version is the build's version, as every component reports it: virt-api on
// subresources.kubevirt.io/v1/version and `virtctl version`, each component in its first
// log line. Bazel stamps it (x_defs from hack/bazel/workspace-status.sh); a plain go build
// gets hack/version.sh's -ldflags, or else the go command's own VCS stamp.
package version

import (
	"runtime"
	"runtime/debug"
)

// Set at link time with -X github.com/hypernest/hypernest/pkg/version.<name>=<value>.
var (
	gitVersion   = "v0.1.0-devel"
	gitCommit    = ""
	gitTreeState = ""
	// buildDate is the commit's date, not the build's: the same source builds the same
	// bytes (the images' digests depend on it).
	buildDate = ""
)

// Info is KubeVirt's version.Info: what GET .../version answers and `virtctl version`
// prints.
type Info struct {
	GitVersion   string `json:"gitVersion"`
	GitCommit    string `json:"gitCommit"`
	GitTreeState string `json:"gitTreeState"`
	BuildDate    string `json:"buildDate"`
	GoVersion    string `json:"goVersion"`
	Compiler     string `json:"compiler"`
	Platform     string `json:"platform"`
}

// Get returns this binary's version.
func Get() Info {
	info := Info{
		GitVersion: gitVersion, GitCommit: gitCommit, GitTreeState: gitTreeState, BuildDate: buildDate,
		GoVersion: runtime.Version(), Compiler: runtime.Compiler, Platform: runtime.GOOS + "/" + runtime.GOARCH,
	}
	if info.GitCommit == "" {
		fromBuildInfo(&info)
	}
	return info
}

// fromBuildInfo fills in what the go command recorded of the checkout it built from
// (go build in a git work tree, without -buildvcs=false).
func fromBuildInfo(info *Info) {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			info.GitCommit = s.Value
		case "vcs.time":
			info.BuildDate = s.Value
		case "vcs.modified":
			info.GitTreeState = "clean"
			if s.Value == "true" {
				info.GitTreeState = "dirty"
			}
		}
	}
}

// String is the one-line form the components log at start.
func (i Info) String() string {
	s := i.GitVersion
	if i.GitCommit != "" {
		s += " (" + i.GitCommit
		if i.GitTreeState == "dirty" {
			s += ", dirty"
		}
		s += ")"
	}
	return s
}
