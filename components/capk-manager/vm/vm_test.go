package vm

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	infrav1 "github.com/hypernest/hypernest/api/infrastructure/v1alpha1"
)

func machine() *infrav1.KubevirtMachine {
	return &infrav1.KubevirtMachine{
		ObjectMeta: metav1.ObjectMeta{Name: "m1", Namespace: "ns"},
		Spec: infrav1.KubevirtMachineSpec{VirtualMachineTemplate: infrav1.VirtualMachineTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"team": "a"}},
			Spec: kubevirtv1.VirtualMachineSpec{
				RunStrategy: ptr.To(kubevirtv1.RunStrategyAlways),
				Template: &kubevirtv1.VirtualMachineInstanceTemplateSpec{Spec: kubevirtv1.VirtualMachineInstanceSpec{
					Domain: kubevirtv1.DomainSpec{CPU: &kubevirtv1.CPU{Cores: 2, Sockets: 2}, Memory: &kubevirtv1.Memory{Guest: ptr.To(resource.MustParse("3Gi"))}},
				}},
			}}},
	}
}

func TestBuildAddsBootstrapVolumeAndLabels(t *testing.T) {
	km := machine()
	vm := Build(km, Params{ClusterName: "c", Namespace: "vms", ControlPlane: true, BootstrapSecretName: "m1-boot"})
	if vm.Namespace != "vms" || vm.Name != "m1" || vm.Labels["team"] != "a" || vm.Labels[RoleLabel] != ControlPlaneRole {
		t.Fatalf("metadata: %+v", vm.ObjectMeta)
	}
	tmpl := vm.Spec.Template
	if tmpl.ObjectMeta.Labels[clusterv1.ClusterNameLabel] != "c" || tmpl.ObjectMeta.Labels[RoleLabel] != ControlPlaneRole {
		t.Fatalf("the VMI (and its pod) must carry the labels the control-plane Service selects: %v", tmpl.ObjectMeta.Labels)
	}
	v := tmpl.Spec.Volumes[len(tmpl.Spec.Volumes)-1]
	if v.Name != CloudInitVolumeName || v.CloudInitConfigDrive == nil || v.CloudInitConfigDrive.UserDataSecretRef.Name != "m1-boot-userdata" {
		t.Fatalf("bootstrap volume: %+v", v)
	}
	if km.Spec.VirtualMachineTemplate.Spec.Template.Spec.Volumes != nil {
		t.Fatal("Build must not change the KubevirtMachine")
	}
}

func TestBuildUsesNoCloudWhenTheTemplateAsks(t *testing.T) {
	km := machine()
	km.Spec.VirtualMachineTemplate.Spec.Template.Spec.Volumes = []kubevirtv1.Volume{{Name: CloudInitVolumeName,
		VolumeSource: kubevirtv1.VolumeSource{CloudInitNoCloud: &kubevirtv1.CloudInitNoCloudSource{UserData: "placeholder"}}}}
	vm := Build(km, Params{ClusterName: "c", Namespace: "ns", BootstrapSecretName: "b"})
	vols := vm.Spec.Template.Spec.Volumes
	if len(vols) != 1 || vols[0].CloudInitNoCloud == nil || vols[0].CloudInitNoCloud.UserData != "" || vols[0].CloudInitNoCloud.UserDataSecretRef.Name != "b-userdata" {
		t.Fatalf("want one NoCloud volume pointing at the bootstrap data: %+v", vols)
	}
	if vm.Labels[RoleLabel] != WorkerRole {
		t.Fatal("a machine that is not a control-plane one is a worker")
	}
}

func TestAddressesAndStopped(t *testing.T) {
	vmi := &kubevirtv1.VirtualMachineInstance{}
	vmi.Status.Interfaces = []kubevirtv1.VirtualMachineInstanceNetworkInterface{{IP: "fd00::5", IPs: []string{"fd00::5", "10.0.0.5"}}}
	got := Addresses("m1", vmi)
	if len(got) != 6 || got[1].Address != "10.0.0.5" || got[3].Address != "fd00::5" || got[5].Type != clusterv1.MachineInternalDNS {
		t.Fatalf("IPv4 first, each as internal and external, host and DNS name: %+v", got)
	}
	if FirstIP(vmi) != "10.0.0.5" {
		t.Fatal("the SSH check connects to the first IPv4 address")
	}
	vm := &kubevirtv1.VirtualMachine{}
	vm.Spec.RunStrategy = ptr.To(kubevirtv1.RunStrategyAlways)
	if stopped, _ := Stopped(vm, vmi); stopped {
		t.Fatal("Always never counts as stopped")
	}
	vm.Spec.RunStrategy = ptr.To(kubevirtv1.RunStrategyHalted)
	if stopped, why := Stopped(vm, vmi); !stopped || why == "" {
		t.Fatal("Halted is a stop behind the provider's back")
	}
	vm.Spec.RunStrategy = ptr.To(kubevirtv1.RunStrategyRerunOnFailure)
	vmi.Status.Phase = kubevirtv1.Failed
	if stopped, _ := Stopped(vm, vmi); stopped {
		t.Fatal("a failed guest under RerunOnFailure comes back")
	}
}

func TestCapacity(t *testing.T) {
	got := Capacity(&machine().Spec)
	if got.Cpu().Value() != 4 || got.Memory().String() != "3Gi" {
		t.Fatalf("cores x sockets, guest memory: %v", got)
	}
	spec := machine().Spec
	spec.VirtualMachineTemplate.Spec.Template.Spec.Domain.CPU = nil
	spec.VirtualMachineTemplate.Spec.Template.Spec.Domain.Resources.Requests = corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1500m")}
	if got := Capacity(&spec); got.Cpu().MilliValue() != 1500 {
		t.Fatalf("without a CPU topology, the request: %v", got)
	}
}

// Only a VMI that a drain marked and whose strategy is External, its own or the
// cluster's, is the provider's to move; a LiveMigrate VMI is marked the same way for
// KubeVirt's migration, and a VMI being deleted is on its way already.
func TestEvacuationRequested(t *testing.T) {
	external, liveMigrate := ptr.To(kubevirtv1.EvictionStrategyExternal), ptr.To(kubevirtv1.EvictionStrategyLiveMigrate)
	vmi := func(own *kubevirtv1.EvictionStrategy, marked string, deleting bool) *kubevirtv1.VirtualMachineInstance {
		v := &kubevirtv1.VirtualMachineInstance{Spec: kubevirtv1.VirtualMachineInstanceSpec{EvictionStrategy: own}}
		v.Status.EvacuationNodeName = marked
		if deleting {
			v.DeletionTimestamp = ptr.To(metav1.Now())
		}
		return v
	}
	for name, tc := range map[string]struct {
		vmi            *kubevirtv1.VirtualMachineInstance
		clusterDefault *kubevirtv1.EvictionStrategy
		want           bool
	}{
		"External, marked":                       {vmi(external, "node01", false), nil, true},
		"the cluster's External, marked":         {vmi(nil, "node01", false), external, true},
		"its own LiveMigrate over the cluster's": {vmi(liveMigrate, "node01", false), external, false},
		"External, not marked":                   {vmi(external, "", false), nil, false},
		"External, marked, being deleted":        {vmi(external, "node01", true), nil, false},
		"no strategy anywhere, marked":           {vmi(nil, "node01", false), nil, false},
		"no VMI":                                 {nil, external, false},
	} {
		node, got := EvacuationRequested(tc.vmi, tc.clusterDefault)
		if got != tc.want || (got && node != "node01") {
			t.Errorf("%s: got %v (node %q), want %v", name, got, node, tc.want)
		}
	}
}

func TestLiveMigratable(t *testing.T) {
	vmi := &kubevirtv1.VirtualMachineInstance{}
	if _, _, _, known := LiveMigratable(vmi); known {
		t.Error("known without a LiveMigratable condition")
	}
	vmi.Status.Conditions = []kubevirtv1.VirtualMachineInstanceCondition{{
		Type: kubevirtv1.VirtualMachineInstanceIsMigratable, Status: corev1.ConditionFalse,
		Reason: "DisksNotLiveMigratable", Message: "PVC data is not shared, live migration requires that all PVCs must be shared (using ReadWriteMany access mode)",
	}}
	if ok, reason, msg, known := LiveMigratable(vmi); ok || !known || reason != "DisksNotLiveMigratable" || msg == "" {
		t.Errorf("false condition: %v %q %q %v", ok, reason, msg, known)
	}
	vmi.Status.Conditions[0].Reason = ""
	if _, reason, _, _ := LiveMigratable(vmi); reason != "NotLiveMigratable" {
		t.Errorf("empty reason reported as %q: a condition's reason may not be empty", reason)
	}
	vmi.Status.Conditions[0].Status = corev1.ConditionTrue
	if ok, _, _, known := LiveMigratable(vmi); !ok || !known {
		t.Error("true condition not reported")
	}
}
