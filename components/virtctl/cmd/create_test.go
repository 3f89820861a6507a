package cmd

import (
	"bytes"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/validation"
	hnscheme "github.com/hypernest/hypernest/api/scheme"
)

func runCreate(t *testing.T, args ...string) (string, error) {
	t.Helper()
	root := NewRootCommand()
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"create", "vm"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestCreateVMPrintsAValidVM(t *testing.T) {
	out, err := runCreate(t, "--name", "demo", "--volume-containerdisk", "src:registry:5000/kubevirt/cirros-container-disk-demo:devel,bootorder:1",
		"--user", "cirros", "--ssh-key", "ssh-ed25519 AAAA demo")
	if err != nil {
		t.Fatal(err)
	}
	vm := decodeVM(t, out)
	if errs, _ := validation.ValidateVirtualMachineSpec(field.NewPath("spec"), &vm.Spec, nil); len(errs) > 0 {
		t.Fatalf("virt-api would refuse it: %v\n%s", errs, out)
	}
	if vm.Spec.Template.Spec.Domain.Memory.Guest.String() != "512Mi" || *vm.Spec.RunStrategy != v1.RunStrategyAlways ||
		*vm.Spec.Template.Spec.TerminationGracePeriodSeconds != 180 {
		t.Errorf("KubeVirt's defaults are not kept:\n%s", out)
	}
	vols := vm.Spec.Template.Spec.Volumes
	if len(vols) != 2 || vols[0].Name != "demo-containerdisk-0" || vols[1].CloudInitNoCloud == nil ||
		!strings.Contains(vols[1].CloudInitNoCloud.UserData, "user: cirros\nssh_authorized_keys:\n  - ssh-ed25519 AAAA demo") {
		t.Errorf("volumes:\n%s", out)
	}
	if disks := vm.Spec.Template.Spec.Domain.Devices.Disks; len(disks) != 1 || *disks[0].BootOrder != 1 {
		t.Errorf("disks: %+v", disks)
	}
}

// Claims follow container disks, named after the claim unless a name is given, as in
// KubeVirt's virtctl.
func TestCreateVMWithClaims(t *testing.T) {
	out, err := runCreate(t, "--volume-pvc", "src:data", "--volume-containerdisk", "src:registry:5000/kubevirt/alpine-container-disk-demo:devel,bootorder:1",
		"--volume-pvc", "src:logs,name:log-disk,bootorder:2")
	if err != nil {
		t.Fatal(err)
	}
	vm := decodeVM(t, out)
	if errs, _ := validation.ValidateVirtualMachineSpec(field.NewPath("spec"), &vm.Spec, nil); len(errs) > 0 {
		t.Fatalf("virt-api would refuse it: %v\n%s", errs, out)
	}
	vols := vm.Spec.Template.Spec.Volumes
	if len(vols) != 3 || vols[0].ContainerDisk == nil ||
		vols[1].Name != "data" || vols[1].PersistentVolumeClaim == nil || vols[1].PersistentVolumeClaim.ClaimName != "data" ||
		vols[2].Name != "log-disk" || vols[2].PersistentVolumeClaim == nil || vols[2].PersistentVolumeClaim.ClaimName != "logs" {
		t.Errorf("volumes:\n%s", out)
	}
	if disks := vm.Spec.Template.Spec.Domain.Devices.Disks; len(disks) != 2 || disks[1].Name != "log-disk" || *disks[1].BootOrder != 2 {
		t.Errorf("disks: %+v", disks)
	}
}

// As KubeVirt's virtctl: a claim as boot volume asks for inference, failures ignored and
// the memory kept as a fallback; asked for explicitly, the memory goes and failures count.
func TestCreateVMInfersFromTheBootClaim(t *testing.T) {
	out, err := runCreate(t, "--volume-pvc", "src:fedora")
	if err != nil {
		t.Fatal(err)
	}
	vm := decodeVM(t, out)
	if it, pref := vm.Spec.Instancetype, vm.Spec.Preference; it == nil || it.InferFromVolume != "fedora" || *it.InferFromVolumeFailurePolicy != "Ignore" ||
		pref == nil || pref.InferFromVolume != "fedora" || *pref.InferFromVolumeFailurePolicy != "Ignore" || vm.Spec.Template.Spec.Domain.Memory == nil {
		t.Errorf("implicit inference:\n%s", out)
	}
	out, err = runCreate(t, "--volume-pvc", "src:fedora", "--infer-instancetype")
	if err != nil {
		t.Fatal(err)
	}
	if vm := decodeVM(t, out); vm.Spec.Instancetype.InferFromVolumeFailurePolicy != nil || vm.Spec.Template.Spec.Domain.Memory != nil {
		t.Errorf("explicit inference:\n%s", out)
	}
	out, err = runCreate(t, "--volume-containerdisk", "src:demo")
	if err != nil {
		t.Fatal(err)
	}
	if vm := decodeVM(t, out); vm.Spec.Instancetype != nil || vm.Spec.Preference != nil {
		t.Errorf("a container disk has no labels to infer from:\n%s", out)
	}
	if _, err := runCreate(t, "--name", "vm", "--volume-containerdisk", "src:demo", "--infer-preference-from", "vm-containerdisk-0"); err == nil ||
		!strings.Contains(err.Error(), "inference of instancetype or preference works only with datasources, datavolumes or pvcs") {
		t.Errorf("explicit inference from a container disk: %v", err)
	}
}

func TestCreateVMWithInstancetype(t *testing.T) {
	out, err := runCreate(t, "--instancetype", "virtualmachineinstancetype/small", "--preference", "fedora")
	if err != nil {
		t.Fatal(err)
	}
	vm := decodeVM(t, out)
	if vm.Spec.Instancetype == nil || vm.Spec.Instancetype.Kind != "virtualmachineinstancetype" || vm.Spec.Instancetype.Name != "small" ||
		vm.Spec.Preference == nil || vm.Spec.Preference.Kind != "" || vm.Spec.Template.Spec.Domain.Memory != nil || !strings.HasPrefix(vm.Name, "vm-") {
		t.Errorf("manifest:\n%s", out)
	}
}

func TestCreateVMRefusesNamingTheFlag(t *testing.T) {
	for args, want := range map[string]string{
		"--volume-pvc=src:other/data":           `failed to parse "--volume-pvc" flag: not allowed to specify namespace of pvc "data"`,
		"--volume-import=type:pvc,src:a/b":      `failed to parse "--volume-import" flag: DataVolumes (CDI) are not supported by Hypernest yet`,
		"--instancetype=pool/x":                 `invalid instancetype kind "pool"`,
		"--volume-containerdisk=name:x":         `failed to parse "--volume-containerdisk" flag: src must be specified`,
		"--volume-containerdisk=src:a,color:no": `unknown param(s): color:no`,
		"--run-strategy=Sometimes":              `invalid run strategy "Sometimes"`,
		"--memory=lots":                         `failed to parse "--memory" flag`,
	} {
		if _, err := runCreate(t, args); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want %q", args, err, want)
		}
	}
}

// decodeVM decodes virtctl's manifest strictly, as the API server would.
func decodeVM(t *testing.T, out string) *v1.VirtualMachine {
	t.Helper()
	obj, _, err := hnscheme.StrictDecoder().Decode([]byte(out), nil, nil)
	if err != nil {
		t.Fatalf("the manifest does not decode strictly: %v\n%s", err, out)
	}
	return obj.(*v1.VirtualMachine)
}
