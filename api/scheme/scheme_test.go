package scheme_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"

	corev1 "github.com/hypernest/hypernest/api/core/v1"
	poolv1beta1 "github.com/hypernest/hypernest/api/pool/v1beta1"
	"github.com/hypernest/hypernest/api/scheme"
	"github.com/hypernest/hypernest/tests/framework"
)

// manifests returns every YAML document of KubeVirt's conformance examples and of the
// project's own examples/, keyed by "file#index".
func manifests(t *testing.T) map[string][]byte {
	t.Helper()
	conformance, err := framework.ConformanceExamplesDir()
	if err != nil {
		t.Fatal(err)
	}
	root, err := framework.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	docs := map[string][]byte{}
	for _, dir := range []string{conformance, filepath.Join(root, "examples")} {
		files, err := framework.YAMLFiles(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			parts, err := framework.ReadYAMLDocuments(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, doc := range parts {
				docs[fmt.Sprintf("%s#%d", filepath.Base(f), i)] = doc
			}
		}
	}
	return docs
}

func TestExamplesDecodeStrictly(t *testing.T) {
	decoder := scheme.StrictDecoder()
	for name, doc := range manifests(t) {
		t.Run(name, func(t *testing.T) {
			obj, gvk, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				t.Fatalf("strict decoding failed: %v", err)
			}
			switch obj.(type) {
			case *corev1.VirtualMachine, *corev1.VirtualMachineInstance, *corev1.VirtualMachineInstanceReplicaSet,
				*corev1.KubeVirt, *poolv1beta1.VirtualMachinePool:
			default:
				t.Fatalf("decoded %s into unexpected type %T", gvk, obj)
			}
		})
	}
}

// TestExamplesRoundTripLosesNothing encodes each decoded example again and checks that
// every value the user wrote is still there, unchanged. Encoding may add empty or null
// values (an empty status, creationTimestamp: null), never drop or alter one.
func TestExamplesRoundTripLosesNothing(t *testing.T) {
	decoder := scheme.StrictDecoder()
	for name, doc := range manifests(t) {
		t.Run(name, func(t *testing.T) {
			obj, _, err := decoder.Decode(doc, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			encoded, err := json.Marshal(obj)
			if err != nil {
				t.Fatal(err)
			}
			var original, again map[string]any
			if err := yaml.Unmarshal(doc, &original); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(encoded, &again); err != nil {
				t.Fatal(err)
			}
			for _, problem := range lost("", original, again) {
				t.Error(problem)
			}
		})
	}
}

// lost lists the paths whose value in want is missing or different in got.
func lost(path string, want, got any) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want an object, got %v", path, got)}
		}
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var problems []string
		for _, k := range keys {
			gv, present := g[k]
			if !present {
				if isEmpty(w[k]) {
					continue // an empty value omitted by omitempty carries no information
				}
				problems = append(problems, fmt.Sprintf("%s.%s: dropped (was %v)", path, k, w[k]))
				continue
			}
			problems = append(problems, lost(path+"."+k, w[k], gv)...)
		}
		return problems
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{fmt.Sprintf("%s: want %v, got %v", path, w, got)}
		}
		var problems []string
		for i := range w {
			problems = append(problems, lost(fmt.Sprintf("%s[%d]", path, i), w[i], g[i])...)
		}
		return problems
	default:
		if !reflect.DeepEqual(want, got) {
			return []string{fmt.Sprintf("%s: want %v, got %v", path, want, got)}
		}
		return nil
	}
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

func TestStrictDecodingNamesUnknownFields(t *testing.T) {
	cases := map[string]struct {
		manifest string
		field    string
	}{
		"typo in a disk target": {
			manifest: `
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata: {name: typo}
spec:
  domain:
    devices:
      disks:
      - name: containerdisk
        disk: {buss: virtio}
  volumes:
  - name: containerdisk
    containerDisk: {image: example/disk}
`,
			field: `spec.domain.devices.disks[0].disk.buss`,
		},
		"field KubeVirt does not have": {
			manifest: `
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: unknown}
spec:
  runStrategy: Always
  autoRestart: true
  template:
    spec:
      domain: {devices: {}}
`,
			field: `spec.autoRestart`,
		},
	}
	decoder := scheme.StrictDecoder()
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, _, err := decoder.Decode([]byte(tc.manifest), nil, nil)
			if err == nil {
				t.Fatal("decoding succeeded; want an unknown-field error")
			}
			if !runtime.IsStrictDecodingError(err) || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("want a strict decoding error naming %q, got: %v", tc.field, err)
			}
		})
	}
}

// TestLostReportsDroppedAndChangedValues guards the round-trip check itself.
func TestLostReportsDroppedAndChangedValues(t *testing.T) {
	want := map[string]any{"spec": map[string]any{"a": "x", "b": []any{"1"}, "empty": map[string]any{}}}
	if p := lost("", want, map[string]any{"spec": map[string]any{"a": "x", "b": []any{"1"}}}); len(p) != 0 {
		t.Fatalf("nothing was lost, but got %v", p)
	}
	if p := lost("", want, map[string]any{"spec": map[string]any{"b": []any{"1"}}}); len(p) != 1 || !strings.Contains(p[0], ".spec.a: dropped") {
		t.Fatalf("want .spec.a reported as dropped, got %v", p)
	}
	if p := lost("", want, map[string]any{"spec": map[string]any{"a": "y", "b": []any{"1"}}}); len(p) != 1 || !strings.Contains(p[0], ".spec.a: want x, got y") {
		t.Fatalf("want .spec.a reported as changed, got %v", p)
	}
}
