// Command fixbuild adjusts gazelle's BUILD files under vendor/ to what rules_go v0.34.0
// can build:
//
//   - gazelle v0.42.0 (the newest that builds here) writes select() branches for platforms
//     rules_go v0.34.0 does not declare (qnx, osx, ...), which Bazel rejects at analysis
//     ("no such target '@io_bazel_rules_go//go/platform:qnx'"). Those branches can never
//     match on the platforms rules_go knows, so dropping them changes no build.
//
//   - gazelle skips `#cgo pkg-config:` lines ("pkg-config not supported") and rules_go's
//     builder ignores them, so a cgo package such as libvirt.org/go/libvirt links without
//     its C libraries. fixbuild asks pkg-config, as the go command would, and writes the
//     flags into the BUILD file (marked "# keep").
//
//     fixbuild -rules-go _out/bazel/rules_go vendor
package main

import (
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
)

var (
	// ("linux", "amd64") pairs in rules_go's go/private/platforms.bzl GOOS_GOARCH.
	platformPair = regexp.MustCompile(`\("(\w+)",\s*"(\w+)"\)`)
	// One select branch on a rules_go platform: `"@io_bazel_rules_go//go/platform:X": [...],`
	selectBranch = regexp.MustCompile(`\n[ \t]*"@io_bazel_rules_go//go/platform:(\w+)": \[[^\]]*\],`)
)

func main() {
	rulesGo := flag.String("rules-go", "_out/bazel/rules_go", "the rules_go checkout the build uses")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: fixbuild [-rules-go DIR] VENDOR_DIR")
		os.Exit(2)
	}
	known, err := knownPlatforms(*rulesGo)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fixbuild:", err)
		os.Exit(1)
	}
	changed, err := dropUnknownPlatforms(flag.Arg(0), known)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fixbuild:", err)
		os.Exit(1)
	}
	fmt.Printf("fixbuild: dropped select branches for platforms unknown to rules_go in %d BUILD files\n", changed)
	cgo, err := addPkgConfigFlags(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fixbuild:", err)
		os.Exit(1)
	}
	fmt.Printf("fixbuild: added pkg-config flags to %d cgo packages\n", cgo)
}

// knownPlatforms returns every GOOS, GOARCH and GOOS_GOARCH rules_go declares a
// config_setting for.
func knownPlatforms(rulesGo string) (map[string]bool, error) {
	data, err := os.ReadFile(filepath.Join(rulesGo, "go", "private", "platforms.bzl"))
	if err != nil {
		return nil, fmt.Errorf("reading rules_go's platform list (run hack/bazel/setup.sh first): %w", err)
	}
	known := map[string]bool{}
	for _, m := range platformPair.FindAllStringSubmatch(string(data), -1) {
		known[m[1]], known[m[2]], known[m[1]+"_"+m[2]] = true, true, true
	}
	if !known["linux_amd64"] {
		return nil, fmt.Errorf("no linux_amd64 in rules_go's platform list; has platforms.bzl changed?")
	}
	return known, nil
}

func dropUnknownPlatforms(root string, known map[string]bool) (int, error) {
	changed := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "BUILD.bazel" {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		fixed := selectBranch.ReplaceAllStringFunc(string(data), func(branch string) string {
			if known[selectBranch.FindStringSubmatch(branch)[1]] {
				return branch
			}
			return ""
		})
		if fixed == string(data) {
			return nil
		}
		changed++
		return os.WriteFile(path, []byte(fixed), 0o644)
	})
	return changed, err
}
