package v1

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestVirtualMachineInstanceIDIsAValidLabelValue(t *testing.T) {
	if got := VirtualMachineInstanceID("vm-cirros"); got != "vm-cirros" {
		t.Errorf("a short name is its own ID, got %q", got)
	}
	long := strings.Repeat("a", 60) + ".example-vm-name-that-is-long"
	id := VirtualMachineInstanceID(long)
	if len(id) != 63 || !strings.HasPrefix(id, long[:54]+"-") || len(validation.IsValidLabelValue(id)) > 0 {
		t.Errorf("ID %q of a long name is not a 63-character label value with its prefix", id)
	}
	if VirtualMachineInstanceID(long+"x") == id {
		t.Errorf("two long names with the same prefix share an ID")
	}
}
