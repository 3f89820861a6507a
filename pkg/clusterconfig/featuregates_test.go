package clusterconfig

import (
	"os"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

func TestFeatureGateTableIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for _, g := range FeatureGates {
		if seen[g.Name] {
			t.Errorf("%s is listed twice", g.Name)
		}
		seen[g.Name] = true
		if g.VMIFields != nil && g.Guards == "" {
			t.Errorf("%s guards VMI fields but does not say which", g.Name)
		}
		if g.VMIFields != nil && g.Stage != StageAlpha && g.Stage != StageBeta && g.Stage != StageHypernest {
			t.Errorf("%s: a %s gate cannot guard fields: what it guarded is on (GA) or gone", g.Name, g.Stage)
		}
		if g.Implemented && g.Stage != StageHypernest && g.Stage != StageAlpha && g.Stage != StageBeta {
			t.Errorf("%s: only an Alpha, Beta or Hypernest gate can be implemented behind a gate (stage %s)", g.Name, g.Stage)
		}
		for _, alias := range g.AlsoEnabledBy {
			if a, ok := LookupFeatureGate(alias); !ok || a.Stage != StageDeprecated {
				t.Errorf("%s: %s enables it, so it must be listed as a deprecated gate", g.Name, alias)
			}
		}
	}
}

// The README's feature gate table is for people; this keeps it listing every gate.
func TestREADMEListsEveryFeatureGate(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Feature gates\n")
	if !ok {
		t.Fatal("README.md has no '### Feature gates' section")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	for _, g := range FeatureGates {
		if !strings.Contains(section, "`"+g.Name+"`") {
			t.Errorf("README.md's feature gate table does not list `%s` (%s)", g.Name, g.Stage)
		}
	}
}

func TestGatedFieldErrorsFollowTheGates(t *testing.T) {
	spec := &v1.VirtualMachineInstanceSpec{}
	spec.Domain.Devices.AutoattachVSOCK = ptr.To(true)
	path := field.NewPath("spec", "template", "spec")

	errs := Config{}.GatedFieldErrors(path, spec)
	if len(errs) != 1 || errs[0].Field != "spec.template.spec.domain.devices.autoattachVSOCK" || errs[0].Type != field.ErrorTypeForbidden ||
		!strings.HasPrefix(errs[0].Detail, "VSOCK feature gate is not enabled in kubevirt-config") {
		t.Fatalf("gate off: want one Forbidden naming VSOCK at the field, got %v", errs)
	}
	if errs := (Config{FeatureGates: []string{"VSOCK"}}).GatedFieldErrors(path, spec); len(errs) != 0 {
		t.Fatalf("gate on: want nothing, got %v", errs)
	}
	spec.Domain.Devices.AutoattachVSOCK = ptr.To(false)
	if errs := (Config{}).GatedFieldErrors(path, spec); len(errs) != 0 {
		t.Fatalf("autoattachVSOCK: false asks for nothing gated, got %v", errs)
	}
}
