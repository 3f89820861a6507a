// Package framework holds what Hypernest's tests share: where the repository, its
// manifests and the KubeVirt conformance examples are, and how to read them.
package framework

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// RepoRoot is the checkout's top folder: the nearest parent of the working directory
// holding Hypernest's go.mod. `go test` runs each package in its own folder, so this
// works from any package.
func RepoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if data, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && isHypernestModule(data) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no Hypernest go.mod above the working directory; run the tests from inside the checkout")
		}
		dir = parent
	}
}

func isHypernestModule(gomod []byte) bool {
	const want = "module github.com/hypernest/hypernest\n"
	return len(gomod) >= len(want) && string(gomod[:len(want)]) == want
}

// ConformanceExamplesDir is the folder with KubeVirt's own example manifests that
// Hypernest must accept unchanged. It is ../shared/conformance/kubevirt-examples beside
// the checkout, or HYPERNEST_CONFORMANCE_DIR when set.
func ConformanceExamplesDir() (string, error) {
	dir := os.Getenv("HYPERNEST_CONFORMANCE_DIR")
	if dir == "" {
		root, err := RepoRoot()
		if err != nil {
			return "", err
		}
		dir = filepath.Join(root, "..", "shared", "conformance", "kubevirt-examples")
	}
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("KubeVirt conformance examples not found at %s (set HYPERNEST_CONFORMANCE_DIR to the folder holding vm-cirros.yaml and friends): %w", dir, err)
	}
	return dir, nil
}

// YAMLFiles lists the .yaml files of a folder, sorted.
func YAMLFiles(dir string) ([]string, error) {
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no .yaml files in %s", dir)
	}
	sort.Strings(files)
	return files, nil
}

// ReadYAMLDocuments reads a file and splits it into its non-empty YAML documents.
func ReadYAMLDocuments(path string) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := reader.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if len(bytes.TrimSpace(doc)) > 0 && strings.TrimSpace(string(doc)) != "---" {
			docs = append(docs, doc)
		}
	}
}
