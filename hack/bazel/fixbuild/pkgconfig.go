package main

import (
	"bufio"
	"fmt"
	"go/build/constraint"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// buildTags are the tags of the build Bazel does: linux/amd64 with cgo, no custom tags.
var buildTags = map[string]bool{"linux": true, "amd64": true, "cgo": true, "unix": true, "gc": true}

func tagSet(tag string) bool {
	if strings.HasPrefix(tag, "go1.") {
		return true
	}
	return buildTags[tag]
}

// keptPkgConfig matches a clinkopts attribute fixbuild wrote before, in either layout.
var keptPkgConfig = regexp.MustCompile(`    clinkopts = \[[^\]]*\],  # keep: from pkg-config[^\n]*\n`)

// cgoDirective is a `#cgo [constraints] VERB: args` line of a cgo preamble.
var cgoDirective = regexp.MustCompile(`^\s*#cgo\s+(.*?)\s*(pkg-config|LDFLAGS|CFLAGS|CPPFLAGS):\s*(.*)$`)

// cgoLineApplies evaluates a #cgo line's constraints: space-separated alternatives of
// comma-separated terms, each a tag or !tag.
func cgoLineApplies(constraints string) bool {
	if constraints == "" {
		return true
	}
	for _, alternative := range strings.Fields(constraints) {
		all := true
		for _, term := range strings.Split(alternative, ",") {
			if strings.HasPrefix(term, "!") {
				all = all && !tagSet(term[1:])
			} else {
				all = all && tagSet(term)
			}
		}
		if all {
			return true
		}
	}
	return false
}

// fileApplies reads a file's //go:build line, if any, for this build.
func fileApplies(path string) (bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return false, err
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		line := strings.TrimSpace(scanner.Text())
		if strings.HasPrefix(line, "package ") {
			return true, nil
		}
		if constraint.IsGoBuild(line) {
			expr, err := constraint.Parse(line)
			if err != nil {
				return false, err
			}
			return expr.Eval(tagSet), nil
		}
	}
	return true, scanner.Err()
}

// addPkgConfigFlags adds clinkopts (and copts) from pkg-config to every vendored cgo
// package whose sources ask pkg-config for libraries.
func addPkgConfigFlags(root string) (int, error) {
	changed := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "BUILD.bazel" {
			return err
		}
		build, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(build), "cgo = True,") {
			return err
		}
		pkgs, ldflags, err := pkgConfigDirectives(filepath.Dir(path))
		if err != nil || len(pkgs) == 0 {
			return err
		}
		args := append([]string{"--libs"}, pkgs...)
		out, err := exec.Command("pkg-config", args...).Output()
		if err != nil {
			return fmt.Errorf("%s needs C libraries %v, and pkg-config cannot find them (install their -dev packages): %w", filepath.Dir(path), pkgs, err)
		}
		var quoted []string
		dup := map[string]bool{}
		for _, l := range append(strings.Fields(string(out)), ldflags...) {
			if !dup[l] {
				dup[l] = true
				quoted = append(quoted, strconv.Quote(l))
			}
		}
		// Written the way gazelle formats lists, so a later gazelle run keeps it as it is.
		line := fmt.Sprintf("    clinkopts = [\n        %s,\n    ],  # keep: from pkg-config %s\n", strings.Join(quoted, ",\n        "), strings.Join(pkgs, " "))
		text := keptPkgConfig.ReplaceAllString(string(build), "")
		text = strings.Replace(text, "    cgo = True,\n", "    cgo = True,\n"+line, 1)
		changed++
		return os.WriteFile(path, []byte(text), 0o644)
	})
	return changed, err
}

// pkgConfigDirectives collects the pkg-config packages and LDFLAGS that apply to this
// build from a package's Go files.
func pkgConfigDirectives(dir string) (pkgs, ldflags []string, err error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return nil, nil, err
	}
	seen := map[string]bool{}
	for _, file := range files {
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		if ok, err := fileApplies(file); err != nil || !ok {
			if err != nil {
				return nil, nil, err
			}
			continue
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return nil, nil, err
		}
		if !strings.Contains(string(data), "pkg-config:") {
			continue
		}
		for _, line := range strings.Split(string(data), "\n") {
			m := cgoDirective.FindStringSubmatch(line)
			if m == nil || !cgoLineApplies(m[1]) {
				continue
			}
			for _, arg := range strings.Fields(m[3]) {
				key := m[2] + " " + arg
				if seen[key] {
					continue
				}
				seen[key] = true
				switch m[2] {
				case "pkg-config":
					pkgs = append(pkgs, arg)
				case "LDFLAGS":
					ldflags = append(ldflags, arg)
				}
			}
		}
	}
	return pkgs, ldflags, nil
}
