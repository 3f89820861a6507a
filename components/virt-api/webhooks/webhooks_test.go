package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/validation"
	poolv1 "github.com/hypernest/hypernest/api/pool/v1beta1"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
	"github.com/hypernest/hypernest/tests/framework"
)

// configOf is a ConfigFunc returning c.
func configOf(c clusterconfig.Config) ConfigFunc {
	return func(context.Context) clusterconfig.Config { return c }
}

func decoder(t *testing.T) admission.Decoder {
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := poolv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return admission.NewDecoder(scheme)
}

func request(t *testing.T, op admissionv1.Operation, obj, old any, user string) admission.Request {
	raw := func(o any) runtime.RawExtension {
		if o == nil {
			return runtime.RawExtension{}
		}
		data, err := json.Marshal(o)
		if err != nil {
			t.Fatal(err)
		}
		return runtime.RawExtension{Raw: data}
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: op, Object: raw(obj), OldObject: raw(old), UserInfo: authenticationv1.UserInfo{Username: user},
	}}
}

func example(t testing.TB, file string) runtime.Object {
	obj, err := framework.DecodeExample(file)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestKubeVirtExamplesPass(t *testing.T) {
	vm := example(t, "vm-cirros.yaml").(*v1.VirtualMachine)
	if errs, _ := validation.ValidateVirtualMachineSpec(field.NewPath("spec"), &vm.Spec, nil); len(errs) > 0 {
		t.Fatalf("vm-cirros.yaml refused: %v", errs)
	}
	v := &vmiValidator{decoder: decoder(t), namespace: "kubevirt", config: configOf(clusterconfig.Config{})}
	vmi := example(t, "vmi-nocloud.yaml")
	if resp := v.Handle(context.Background(), request(t, admissionv1.Create, vmi, nil, "alice")); !resp.Allowed {
		t.Fatalf("vmi-nocloud.yaml refused: %v", resp.Result)
	}
}

func TestVMErrorsNameTheirFields(t *testing.T) {
	vm := example(t, "vm-cirros.yaml").(*v1.VirtualMachine)
	vm.Spec.Running = ptr.To(true)
	vm.Spec.Template.Spec.Domain.Devices.Disks[1].Name = "cloudinit"
	resp := (&vmValidator{decoder: decoder(t), config: configOf(clusterconfig.Config{})}).Handle(context.Background(), request(t, admissionv1.Create, vm, nil, "alice"))
	if resp.Allowed || resp.Result.Code != 422 {
		t.Fatalf("want a 422, got %+v", resp.Result)
	}
	fields := map[string]bool{}
	for _, c := range resp.Result.Details.Causes {
		fields[c.Field] = true
	}
	for _, want := range []string{"spec.running", "spec.template.spec.domain.devices.disks[1].name"} {
		if !fields[want] {
			t.Errorf("no cause names %s: %+v", want, resp.Result.Details.Causes)
		}
	}
}

func TestVMISpecIsImmutableButForHypernest(t *testing.T) {
	v := &vmiValidator{decoder: decoder(t), namespace: "kubevirt", config: configOf(clusterconfig.Config{})}
	old := example(t, "vmi-nocloud.yaml").(*v1.VirtualMachineInstance)
	changed := old.DeepCopy()
	changed.Spec.TerminationGracePeriodSeconds = ptr.To[int64](7)
	resp := v.Handle(context.Background(), request(t, admissionv1.Update, changed, old, "alice"))
	if resp.Allowed || !strings.Contains(resp.Result.Message, "cannot change after it is created") {
		t.Fatalf("a user's spec change must be refused, got %+v", resp.Result)
	}
	resp = v.Handle(context.Background(), request(t, admissionv1.Update, changed, old, "system:serviceaccount:kubevirt:virt-api"))
	if !resp.Allowed {
		t.Fatalf("virt-api's grace period change must pass, got %+v", resp.Result)
	}
	labelled := old.DeepCopy()
	labelled.Labels = map[string]string{"a": "b"}
	if resp := v.Handle(context.Background(), request(t, admissionv1.Update, labelled, old, "alice")); !resp.Allowed {
		t.Fatalf("a label change must pass, got %+v", resp.Result)
	}
}

// Only the service accounts of Hypernest's own namespace count as Hypernest: the same
// name in another namespace, a longer name sharing the prefix, or a user does not.
func TestHypernestServiceAccount(t *testing.T) {
	for username, want := range map[string]string{
		"system:serviceaccount:kubevirt:virt-controller":      "virt-controller",
		"system:serviceaccount:kubevirt:virt-api":             "virt-api",
		"system:serviceaccount:default:virt-controller":       "",
		"system:serviceaccount:kubevirt-evil:virt-controller": "",
		"system:serviceaccount:kubevirt:virt-controller:x":    "",
		"virt-controller": "",
		"":                "",
	} {
		if got := hypernestServiceAccount("kubevirt", username); got != want {
			t.Errorf("hypernestServiceAccount(kubevirt, %q) = %q, want %q", username, got, want)
		}
	}
}

func TestVMIMutatorFillsDefaults(t *testing.T) {
	m := &vmiMutator{decoder: decoder(t), config: configOf(clusterconfig.Config{})}
	vmi := example(t, "vmi-nocloud.yaml")
	resp := m.Handle(context.Background(), request(t, admissionv1.Create, vmi, nil, "alice"))
	if !resp.Allowed {
		t.Fatalf("refused: %+v", resp.Result)
	}
	paths := map[string]bool{}
	for _, p := range resp.Patches {
		paths[p.Path] = true
	}
	for _, want := range []string{"/spec/domain/machine", "/spec/domain/cpu", "/spec/networks"} {
		if !paths[want] {
			t.Errorf("no patch of %s in %v", want, resp.Patches)
		}
	}
}

// The pod network's binding follows the KubeVirt object: its default binding, and
// whether bridge is permitted there.
func TestPodNetworkBindingFollowsTheKubeVirtObject(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		defaultBinding string
		wantPatch      string
	}{{"", "masquerade"}, {"masquerade", "masquerade"}, {"bridge", "bridge"}} {
		m := &vmiMutator{decoder: decoder(t), config: configOf(clusterconfig.Config{DefaultNetworkInterface: tc.defaultBinding})}
		resp := m.Handle(ctx, request(t, admissionv1.Create, example(t, "vmi-nocloud.yaml"), nil, "alice"))
		if !resp.Allowed {
			t.Fatalf("refused: %+v", resp.Result)
		}
		var ifaces []any
		for _, p := range resp.Patches {
			if p.Path == "/spec/domain/devices/interfaces" {
				ifaces, _ = p.Value.([]any)
			}
		}
		if len(ifaces) != 1 {
			t.Fatalf("default %q: want one interface patched in, got %v", tc.defaultBinding, resp.Patches)
		}
		if _, ok := ifaces[0].(map[string]any)[tc.wantPatch]; !ok {
			t.Errorf("default %q: want the %s binding, got %v", tc.defaultBinding, tc.wantPatch, ifaces[0])
		}
	}

	bridged := example(t, "vmi-nocloud.yaml").(*v1.VirtualMachineInstance)
	bridged.Spec.Networks = []v1.Network{{Name: "default", NetworkSource: v1.NetworkSource{Pod: &v1.PodNetwork{}}}}
	bridged.Spec.Domain.Devices.Interfaces = []v1.Interface{{Name: "default", InterfaceBindingMethod: v1.InterfaceBindingMethod{Bridge: &v1.InterfaceBridge{}}}}
	permitted := &vmiValidator{decoder: decoder(t), namespace: "kubevirt", config: configOf(clusterconfig.Config{})}
	if resp := permitted.Handle(ctx, request(t, admissionv1.Create, bridged, nil, "alice")); !resp.Allowed {
		t.Fatalf("bridge on the pod network is KubeVirt's default and permitted; refused: %+v", resp.Result)
	}
	forbidden := &vmiValidator{decoder: decoder(t), namespace: "kubevirt", config: configOf(clusterconfig.Config{ForbidBridgeOnPodNetwork: true})}
	resp := forbidden.Handle(ctx, request(t, admissionv1.Create, bridged, nil, "alice"))
	if resp.Allowed || resp.Result.Details.Causes[0].Field != "spec.domain.devices.interfaces[0].bridge" ||
		!strings.Contains(resp.Result.Message, "permitBridgeInterfaceOnPodNetwork") {
		t.Fatalf("want a refusal naming the interface and the setting, got %+v", resp.Result)
	}

	withPorts := bridged.DeepCopy()
	withPorts.Spec.Domain.Devices.Interfaces[0].Ports = []v1.Port{{Port: 80}}
	resp = permitted.Handle(ctx, request(t, admissionv1.Create, withPorts, nil, "alice"))
	if resp.Allowed || resp.Result.Details.Causes[0].Field != "spec.domain.devices.interfaces[0].ports" {
		t.Fatalf("ports with the bridge binding would be ignored and must be refused, got %+v", resp.Result)
	}
}

func TestKubeVirtNetworkConfigurationIsValidated(t *testing.T) {
	v := &kubeVirtValidator{decoder: decoder(t)}
	kv := &v1.KubeVirt{}
	kv.Name, kv.Namespace = "kubevirt", "kubevirt"
	kv.Spec.Configuration.Network = &v1.NetworkConfiguration{NetworkInterface: "slirp"}
	resp := v.Handle(context.Background(), request(t, admissionv1.Update, kv, kv, "alice"))
	if resp.Allowed || resp.Result.Details.Causes[0].Field != "spec.configuration.network.defaultNetworkInterface" {
		t.Fatalf("want slirp refused naming the field, got %+v", resp.Result)
	}
	kv.Spec.Configuration.Network = &v1.NetworkConfiguration{NetworkInterface: "bridge", PermitBridgeInterfaceOnPodNetwork: ptr.To(false)}
	if resp := v.Handle(context.Background(), request(t, admissionv1.Update, kv, kv, "alice")); resp.Allowed {
		t.Fatal("a bridge default that is not permitted must be refused")
	}
	kv.Spec.Configuration.Network = &v1.NetworkConfiguration{NetworkInterface: "bridge"}
	if resp := v.Handle(context.Background(), request(t, admissionv1.Update, kv, kv, "alice")); !resp.Allowed {
		t.Fatalf("bridge is a valid default, refused: %+v", resp.Result)
	}
}

func TestReplicaSetValidation(t *testing.T) {
	v := &replicaSetValidator{decoder: decoder(t), config: configOf(clusterconfig.Config{})}
	rs := example(t, "vmi-replicaset-cirros.yaml").(*v1.VirtualMachineInstanceReplicaSet)
	if resp := v.Handle(context.Background(), request(t, admissionv1.Create, rs, nil, "alice")); !resp.Allowed {
		t.Fatalf("vmi-replicaset-cirros.yaml refused: %v", resp.Result)
	}
	causes := func(resp admission.Response) map[string]bool {
		t.Helper()
		if resp.Allowed || resp.Result.Code != 422 {
			t.Fatalf("want a 422, got %+v", resp.Result)
		}
		fields := map[string]bool{}
		for _, c := range resp.Result.Details.Causes {
			fields[c.Field] = true
		}
		return fields
	}

	t.Run("a selector that misses the template's labels", func(t *testing.T) {
		bad := rs.DeepCopy()
		bad.Spec.Template.ObjectMeta.Labels = map[string]string{"app": "other"}
		if f := causes(v.Handle(context.Background(), request(t, admissionv1.Create, bad, nil, "alice"))); !f["spec.template.metadata.labels"] {
			t.Fatalf("want spec.template.metadata.labels named, got %v", f)
		}
	})
	t.Run("no selector, a negative count, a bad template", func(t *testing.T) {
		bad := rs.DeepCopy()
		bad.Spec.Selector = nil
		bad.Spec.Replicas = ptr.To[int32](-1)
		bad.Spec.Template.Spec.Domain.Devices.Disks[0].Name = "missing"
		f := causes(v.Handle(context.Background(), request(t, admissionv1.Create, bad, nil, "alice")))
		for _, want := range []string{"spec.selector", "spec.replicas"} {
			if !f[want] {
				t.Errorf("want %s named, got %v", want, f)
			}
		}
		if !strings.Contains(strings.Join(keys(f), ","), "spec.template.spec.domain.devices.disks[0]") {
			t.Errorf("want the template's disk named, got %v", f)
		}
	})
	t.Run("an empty selector", func(t *testing.T) {
		bad := rs.DeepCopy()
		bad.Spec.Selector.MatchLabels = nil
		if f := causes(v.Handle(context.Background(), request(t, admissionv1.Create, bad, nil, "alice"))); !f["spec.selector"] {
			t.Fatalf("want spec.selector named, got %v", f)
		}
	})
	t.Run("a changed selector", func(t *testing.T) {
		changed := rs.DeepCopy()
		changed.Spec.Selector.MatchLabels = map[string]string{"tier": "web"}
		changed.Spec.Template.ObjectMeta.Labels = map[string]string{"tier": "web"}
		if f := causes(v.Handle(context.Background(), request(t, admissionv1.Update, changed, rs, "alice"))); !f["spec.selector"] {
			t.Fatalf("want spec.selector named, got %v", f)
		}
		scaled := rs.DeepCopy()
		scaled.Spec.Replicas = ptr.To[int32](5)
		if resp := v.Handle(context.Background(), request(t, admissionv1.Update, scaled, rs, "alice")); !resp.Allowed {
			t.Fatalf("scaling refused: %v", resp.Result)
		}
	})
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

func TestPoolValidation(t *testing.T) {
	v := &poolValidator{decoder: decoder(t), config: configOf(clusterconfig.Config{})}
	good := example(t, "vm-pool-cirros.yaml").(*poolv1.VirtualMachinePool)
	if resp := v.Handle(context.Background(), request(t, admissionv1.Create, good, nil, "alice")); !resp.Allowed {
		t.Fatalf("vm-pool-cirros.yaml refused: %+v", resp.Result)
	}
	for name, tc := range map[string]struct {
		mutate func(*poolv1.VirtualMachinePool)
		field  string
	}{
		"no template": {func(p *poolv1.VirtualMachinePool) { p.Spec.VirtualMachineTemplate = nil }, "spec.virtualMachineTemplate"},
		"a selector that misses the template": {func(p *poolv1.VirtualMachinePool) {
			p.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"other": "x"}}
		}, "spec.virtualMachineTemplate.metadata.labels"},
		"no selector":              {func(p *poolv1.VirtualMachinePool) { p.Spec.Selector = nil }, "spec.selector"},
		"maxUnavailable 0":         {func(p *poolv1.VirtualMachinePool) { p.Spec.MaxUnavailable = ptr.To(intstr.FromInt32(0)) }, "spec.maxUnavailable"},
		"maxUnavailable 150%":      {func(p *poolv1.VirtualMachinePool) { p.Spec.MaxUnavailable = ptr.To(intstr.FromString("150%")) }, "spec.maxUnavailable"},
		"maxUnavailable not a pct": {func(p *poolv1.VirtualMachinePool) { p.Spec.MaxUnavailable = ptr.To(intstr.FromString("3")) }, "spec.maxUnavailable"},
		"two scale-in strategies": {func(p *poolv1.VirtualMachinePool) {
			p.Spec.ScaleInStrategy = &poolv1.VirtualMachinePoolScaleInStrategy{Unmanaged: &poolv1.VirtualMachinePoolUnmanagedStrategy{}, Proactive: &poolv1.VirtualMachinePoolProactiveScaleInStrategy{}}
		}, "spec.scaleInStrategy"},
		"a negative autohealing duration": {func(p *poolv1.VirtualMachinePool) {
			p.Spec.Autohealing = &poolv1.VirtualMachinePoolAutohealingStrategy{MinFailingToStartDuration: &metav1.Duration{Duration: -time.Minute}}
		}, "spec.autohealing.minFailingToStartDuration"},
		"a template Hypernest cannot run": {func(p *poolv1.VirtualMachinePool) {
			p.Spec.VirtualMachineTemplate.Spec.Template.Spec.Domain.Devices.Disks[0].Name = "missing"
		}, "spec.virtualMachineTemplate.spec.template.spec.domain.devices.disks[0].name"},
	} {
		t.Run(name, func(t *testing.T) {
			pool := good.DeepCopy()
			tc.mutate(pool)
			resp := v.Handle(context.Background(), request(t, admissionv1.Create, pool, nil, "alice"))
			if resp.Allowed || resp.Result.Code != 422 {
				t.Fatalf("want a 422, got %+v", resp.Result)
			}
			var fields []string
			for _, c := range resp.Result.Details.Causes {
				fields = append(fields, c.Field)
			}
			if !slices.Contains(fields, tc.field) {
				t.Fatalf("no cause names %s: %+v", tc.field, resp.Result.Details.Causes)
			}
		})
	}
	t.Run("the selector cannot change", func(t *testing.T) {
		// Still a valid selector of the template: only the change is at fault.
		changed := good.DeepCopy()
		changed.Spec.VirtualMachineTemplate.ObjectMeta.Labels["extra"] = "x"
		changed.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"extra": "x"}}
		resp := v.Handle(context.Background(), request(t, admissionv1.Update, changed, good, "alice"))
		if resp.Allowed || !strings.Contains(resp.Result.Message, "spec.selector") {
			t.Fatalf("want the selector change refused, got %+v", resp.Result)
		}
		scaled := good.DeepCopy()
		scaled.Spec.Replicas = ptr.To[int32](5)
		if resp := v.Handle(context.Background(), request(t, admissionv1.Update, scaled, good, "alice")); !resp.Allowed {
			t.Fatalf("scaling refused: %v", resp.Result)
		}
	})
}

// KubeVirt accepts guests from 1M (its tests run guest-less VMIs of 1Mi): virt-api
// takes them with a warning naming the field, and refuses only below KubeVirt's floor.
func TestSmallGuestsAreWarnedNotRefused(t *testing.T) {
	v := &vmiValidator{decoder: decoder(t), namespace: "kubevirt", config: configOf(clusterconfig.Config{})}
	vmi := example(t, "vmi-nocloud.yaml").(*v1.VirtualMachineInstance)
	vmi.Spec.Domain.Memory = nil
	vmi.Spec.Domain.Resources.Requests = k8sv1.ResourceList{k8sv1.ResourceMemory: resource.MustParse("1Mi")}
	resp := v.Handle(context.Background(), request(t, admissionv1.Create, vmi, nil, "alice"))
	if !resp.Allowed {
		t.Fatalf("a 1Mi guest must be accepted, as KubeVirt does: %+v", resp.Result)
	}
	if len(resp.Warnings) != 1 || !strings.HasPrefix(resp.Warnings[0], "spec.domain.resources.requests.memory: 1Mi is less than 128Mi") {
		t.Fatalf("want one warning naming spec.domain.resources.requests.memory, got %q", resp.Warnings)
	}

	vmi.Spec.Domain.Resources.Requests[k8sv1.ResourceMemory] = resource.MustParse("512Ki")
	resp = v.Handle(context.Background(), request(t, admissionv1.Create, vmi, nil, "alice"))
	if resp.Allowed || resp.Result.Details.Causes[0].Field != "spec.domain.resources.requests.memory" {
		t.Fatalf("a guest under 1M must be refused naming its field, got %+v", resp.Result)
	}

	vm := example(t, "vm-cirros.yaml").(*v1.VirtualMachine)
	vm.Spec.Template.Spec.Domain.Memory = &v1.Memory{Guest: ptr.To(resource.MustParse("64Mi"))}
	resp = (&vmValidator{decoder: decoder(t), config: configOf(clusterconfig.Config{})}).Handle(context.Background(), request(t, admissionv1.Create, vm, nil, "alice"))
	if !resp.Allowed || len(resp.Warnings) != 1 || !strings.HasPrefix(resp.Warnings[0], "spec.template.spec.domain.memory.guest: 64Mi") {
		t.Fatalf("a VM of a 64Mi guest: want allowed with a warning, got allowed=%v warnings=%q", resp.Allowed, resp.Warnings)
	}
	if resp := (&vmValidator{decoder: decoder(t), config: configOf(clusterconfig.Config{})}).Handle(context.Background(), request(t, admissionv1.Create, example(t, "vm-cirros.yaml"), nil, "alice")); len(resp.Warnings) != 0 {
		t.Fatalf("the example VM must pass without warnings, got %q", resp.Warnings)
	}
}

func TestGatedFieldsAreRefusedNamingTheirGate(t *testing.T) {
	ctx := context.Background()
	vmi := example(t, "vmi-nocloud.yaml").(*v1.VirtualMachineInstance)
	vmi.Spec.Domain.Devices.AutoattachVSOCK = ptr.To(true)
	vmi.Spec.Volumes = append(vmi.Spec.Volumes, v1.Volume{Name: "host", VolumeSource: v1.VolumeSource{HostDisk: &v1.HostDisk{Path: "/data/disk.img", Type: "Disk"}}})
	hostDisk := len(vmi.Spec.Volumes) - 1

	causes := func(resp admission.Response) map[string]string {
		got := map[string]string{}
		if resp.Allowed {
			t.Fatal("want a refusal, got allowed")
		}
		for _, c := range resp.Result.Details.Causes {
			if _, dup := got[c.Field]; dup {
				t.Errorf("two answers for %s: %+v", c.Field, resp.Result.Details.Causes)
			}
			got[c.Field] = c.Message
		}
		return got
	}
	vsock := "spec.domain.devices.autoattachVSOCK"
	host := fmt.Sprintf("spec.volumes[%d].hostDisk", hostDisk)

	off := &vmiValidator{decoder: decoder(t), namespace: "kubevirt", config: configOf(clusterconfig.Config{})}
	got := causes(off.Handle(ctx, request(t, admissionv1.Create, vmi, nil, "alice")))
	for f, gate := range map[string]string{vsock: "VSOCK", host: "HostDisk"} {
		if !strings.Contains(got[f], "Forbidden: "+gate+" feature gate is not enabled in kubevirt-config") || !strings.Contains(got[f], "developerConfiguration.featureGates") {
			t.Errorf("%s: want the %s gate named, and where to turn it on; got %q", f, gate, got[f])
		}
	}

	// With the gates on, the fields reach the rest of validation: Hypernest does not run
	// them yet, and says so (still refused, never stored and ignored).
	on := &vmiValidator{decoder: decoder(t), namespace: "kubevirt", config: configOf(clusterconfig.Config{FeatureGates: []string{"VSOCK", "HostDisk"}})}
	got = causes(on.Handle(ctx, request(t, admissionv1.Create, vmi, nil, "alice")))
	if !strings.Contains(got[host], "not supported by Hypernest yet") {
		t.Errorf("%s with its gate on: want 'not supported by Hypernest yet', got %q", host, got[host])
	}
	if !strings.Contains(got[vsock], "vsock is not supported by Hypernest yet") {
		t.Errorf("%s with its gate on: want 'vsock is not supported by Hypernest yet', got %q", vsock, got[vsock])
	}

	// A deprecated name still enables what its successor guards, as in KubeVirt.
	pvc := example(t, "vmi-nocloud.yaml").(*v1.VirtualMachineInstance)
	pvc.Spec.Volumes[0].VolumeSource = v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{
		PersistentVolumeClaimVolumeSource: k8sv1.PersistentVolumeClaimVolumeSource{ClaimName: "disk"}, Hotpluggable: true}}
	deprecated := &vmiValidator{decoder: decoder(t), namespace: "kubevirt", config: configOf(clusterconfig.Config{FeatureGates: []string{"HotplugVolumes"}})}
	got = causes(deprecated.Handle(ctx, request(t, admissionv1.Create, pvc, nil, "alice")))
	if msg := got["spec.volumes[0].persistentVolumeClaim.hotpluggable"]; !strings.Contains(msg, "volume hotplug is not supported") {
		t.Errorf("HotplugVolumes enables DeclarativeHotplugVolumes' fields; got %q", msg)
	}
}

func TestKubeVirtFeatureGatesThatEnableNothingAreWarnedAbout(t *testing.T) {
	v := &kubeVirtValidator{decoder: decoder(t)}
	kv := &v1.KubeVirt{}
	kv.Name, kv.Namespace = "kubevirt", "kubevirt"
	kv.Spec.Configuration.DeveloperConfiguration = &v1.DeveloperConfiguration{
		FeatureGates: []string{clusterconfig.GuestAgentBootstrapCheck, "LiveMigration", "Macvtap", "vsock", "Snapshot"},
	}
	resp := v.Handle(context.Background(), request(t, admissionv1.Update, kv, kv, "alice"))
	if !resp.Allowed {
		t.Fatalf("gate names are never refused, got %+v", resp.Result)
	}
	want := []string{
		`featureGates[1]: feature gate LiveMigration is generally available`,
		`featureGates[2]: feature gate Macvtap is discontinued`,
		`featureGates[3]: unknown feature gate "vsock"`,
		`featureGates[4]: feature gate Snapshot guards VirtualMachineSnapshot and VirtualMachineRestore, which Hypernest does not support yet`,
	}
	if len(resp.Warnings) != len(want) {
		t.Fatalf("want %d warnings (none for GuestAgentBootstrapCheck), got %q", len(want), resp.Warnings)
	}
	for i, w := range want {
		if !strings.Contains(resp.Warnings[i], w) {
			t.Errorf("warning %d: want %q in %q", i, w, resp.Warnings[i])
		}
	}
}

// The limits on parallel migrations are read by virt-controller, the bandwidth,
// timeouts and auto-converge by virt-handler; the settings nothing reads yet are
// refused, each naming its field.
func TestKubeVirtMigrationConfigurationIsValidated(t *testing.T) {
	v := &kubeVirtValidator{decoder: decoder(t)}
	kv := &v1.KubeVirt{}
	kv.Name, kv.Namespace = "kubevirt", "kubevirt"
	kv.Spec.Configuration.MigrationConfiguration = &v1.MigrationConfiguration{
		ParallelMigrationsPerCluster: ptr.To[uint32](10), ParallelOutboundMigrationsPerNode: ptr.To[uint32](1),
		BandwidthPerMigration: ptr.To(resource.MustParse("64Mi")), CompletionTimeoutPerGiB: ptr.To[int64](800),
		ProgressTimeout: ptr.To[int64](300), AllowAutoConverge: ptr.To(true)}
	if resp := v.Handle(context.Background(), request(t, admissionv1.Update, kv, kv, "alice")); !resp.Allowed {
		t.Fatalf("the limits are supported; refused: %+v", resp.Result)
	}
	kv.Spec.Configuration.MigrationConfiguration.MaxDowntimeMs = ptr.To[uint64](300)
	kv.Spec.Configuration.MigrationConfiguration.AllowPostCopy = ptr.To(true)
	resp := v.Handle(context.Background(), request(t, admissionv1.Update, kv, kv, "alice"))
	if resp.Allowed || len(resp.Result.Details.Causes) != 2 {
		t.Fatalf("want two refusals, got %+v", resp.Result)
	}
	for i, want := range []string{"spec.configuration.migrations.maxDowntimeMs", "spec.configuration.migrations.allowPostCopy"} {
		if c := resp.Result.Details.Causes[i]; c.Field != want || !strings.Contains(c.Message, "not supported by Hypernest yet") {
			t.Errorf("cause %d: %+v; want %s refused as not supported yet", i, c, want)
		}
	}
}
