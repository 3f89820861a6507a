package version

import "testing"

func TestStringNamesTheCommitAndADirtyTree(t *testing.T) {
	for _, tc := range []struct {
		info Info
		want string
	}{
		{Info{GitVersion: "v0.1.0-devel"}, "v0.1.0-devel"},
		{Info{GitVersion: "v0.1.0-devel", GitCommit: "abc", GitTreeState: "clean"}, "v0.1.0-devel (abc)"},
		{Info{GitVersion: "v0.1.0-devel", GitCommit: "abc", GitTreeState: "dirty"}, "v0.1.0-devel (abc, dirty)"},
	} {
		if got := tc.info.String(); got != tc.want {
			t.Errorf("%+v: got %q, want %q", tc.info, got, tc.want)
		}
	}
}

func TestGetFillsInTheGoFields(t *testing.T) {
	info := Get()
	if info.GitVersion == "" || info.GoVersion == "" || info.Compiler == "" || info.Platform == "" {
		t.Fatalf("incomplete: %+v", info)
	}
}
