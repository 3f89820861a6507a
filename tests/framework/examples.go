package framework

import (
	"fmt"
	"path/filepath"

	"k8s.io/apimachinery/pkg/runtime"

	"github.com/hypernest/hypernest/api/scheme"
)

// DecodeExample decodes one of KubeVirt's example manifests (its first document), with
// the strict decoder kubectl's field validation matches.
func DecodeExample(file string) (runtime.Object, error) {
	dir, err := ConformanceExamplesDir()
	if err != nil {
		return nil, err
	}
	docs, err := ReadYAMLDocuments(filepath.Join(dir, file))
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return nil, fmt.Errorf("%s holds no manifest", file)
	}
	obj, _, err := scheme.StrictDecoder().Decode(docs[0], nil, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	return obj, nil
}
