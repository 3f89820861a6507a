package instancetype

import (
	"context"
	"strings"
	"testing"

	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

func inferVM(instancetype *v1.InstancetypeMatcher, preference *v1.PreferenceMatcher, volumes ...v1.Volume) *v1.VirtualMachine {
	return &v1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Name: "vm", Namespace: "ns"},
		Spec: v1.VirtualMachineSpec{
			Instancetype: instancetype,
			Preference:   preference,
			Template: &v1.VirtualMachineInstanceTemplateSpec{Spec: v1.VirtualMachineInstanceSpec{
				Domain:  v1.DomainSpec{Memory: &v1.Memory{}},
				Volumes: volumes,
			}},
		},
	}
}

func claimVolume(name, claim string) v1.Volume {
	return v1.Volume{Name: name, VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{
		PersistentVolumeClaimVolumeSource: k8sv1.PersistentVolumeClaimVolumeSource{ClaimName: claim},
	}}}
}

// The rules of KubeVirt's inference (pkg/instancetype/infer) on a claim's labels, with
// its messages; the claims are served by a fake client, as only lookups are involved.
func TestInferFromVolume(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = k8sv1.AddToScheme(scheme)
	labelled := &k8sv1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "fedora", Namespace: "ns", Labels: map[string]string{
		v1.DefaultInstancetypeLabel: "u1.small", v1.DefaultPreferenceLabel: "fedora", v1.DefaultPreferenceKindLabel: "VirtualMachinePreference",
	}}}
	bare := &k8sv1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "bare", Namespace: "ns"}}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(labelled, bare).Build()
	ctx := context.Background()
	ignore := ptr.To(v1.IgnoreInferFromVolumeFailure)
	containerDisk := v1.Volume{Name: "cd", VolumeSource: v1.VolumeSource{ContainerDisk: &v1.ContainerDiskSource{Image: "x"}}}

	vm := inferVM(&v1.InstancetypeMatcher{InferFromVolume: "root"}, &v1.PreferenceMatcher{InferFromVolume: "root"}, claimVolume("root", "fedora"))
	if err := Infer(ctx, reader, vm); err != nil {
		t.Fatal(err)
	}
	if *vm.Spec.Instancetype != (v1.InstancetypeMatcher{Name: "u1.small"}) || *vm.Spec.Preference != (v1.PreferenceMatcher{Name: "fedora", Kind: "VirtualMachinePreference"}) {
		t.Errorf("inferred %+v %+v", vm.Spec.Instancetype, vm.Spec.Preference)
	}
	if vm.Spec.Template.Spec.Domain.Memory == nil {
		t.Error("Reject (the default) keeps the template's memory")
	}

	vm = inferVM(&v1.InstancetypeMatcher{InferFromVolume: "root", InferFromVolumeFailurePolicy: ignore}, nil, claimVolume("root", "fedora"))
	if err := Infer(ctx, reader, vm); err != nil || vm.Spec.Instancetype.Name != "u1.small" || vm.Spec.Template.Spec.Domain.Memory != nil {
		t.Errorf("Ignore with a successful inference clears the fallback memory: %v %+v", err, vm.Spec)
	}

	vm = inferVM(&v1.InstancetypeMatcher{InferFromVolume: "root", InferFromVolumeFailurePolicy: ignore},
		&v1.PreferenceMatcher{InferFromVolume: "cd", InferFromVolumeFailurePolicy: ignore}, claimVolume("root", "bare"), containerDisk)
	if err := Infer(ctx, reader, vm); err != nil || vm.Spec.Instancetype != nil || vm.Spec.Preference != nil || vm.Spec.Template.Spec.Domain.Memory == nil {
		t.Errorf("Ignore drops matchers that cannot be inferred and keeps the memory: %v %+v", err, vm.Spec)
	}

	for _, tc := range []struct {
		vm   *v1.VirtualMachine
		want string
	}{
		{inferVM(&v1.InstancetypeMatcher{InferFromVolume: "root"}, nil, claimVolume("root", "bare")),
			"unable to find required instancetype.kubevirt.io/default-instancetype label on the volume"},
		{inferVM(nil, &v1.PreferenceMatcher{InferFromVolume: "cd"}, containerDisk),
			"unable to infer defaults from volume cd as type is not supported"},
		{inferVM(&v1.InstancetypeMatcher{InferFromVolume: "gone", InferFromVolumeFailurePolicy: ignore}, nil, claimVolume("root", "fedora")),
			"unable to find volume gone to infer defaults"},
		{inferVM(&v1.InstancetypeMatcher{InferFromVolume: "root", InferFromVolumeFailurePolicy: ignore}, nil, claimVolume("root", "missing")),
			`"missing" not found`},
	} {
		if err := Infer(ctx, reader, tc.vm); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}
