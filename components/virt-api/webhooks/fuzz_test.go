package webhooks

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
	"sigs.k8s.io/randfill"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
	"github.com/hypernest/hypernest/pkg/instancetype"
)

// The webhooks take whatever a client sends. These fuzz targets feed them two kinds of
// input from each fuzz case: the bytes as the object's JSON (what arrives on the wire),
// and the bytes as the randomness that fills a whole object (deep, well-typed objects that
// reach every validation branch). The webhook must never panic, and every 422 it answers
// must name a field in each cause, so kubectl can point at it.
//
// make test runs each target for FUZZTIME (a few seconds); `make fuzz FUZZTIME=10m` runs
// longer. Found inputs land in testdata/fuzz/ and stay as regression cases.

func fuzzScheme(t testing.TB) *runtime.Scheme {
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := itv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	return scheme
}

// filled is obj filled from data, as JSON; nil when JSON cannot carry it.
func filled(t *testing.T, data []byte, obj any) []byte {
	randfill.NewFromGoFuzz(data).NilChance(0.5).NumElements(0, 2).MaxDepth(8).Funcs(
		// An embedded object (a DataVolume template's) arrives as raw JSON.
		func(r *runtime.RawExtension, c randfill.Continue) { *r = runtime.RawExtension{} },
		// So are managed fields; the API server writes them, not the client.
		func(f *metav1.FieldsV1, c randfill.Continue) { *f = metav1.FieldsV1{} },
	).Fill(obj)
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil // not representable as JSON (e.g. NaN): no client can send it
	}
	return raw
}

// checkAnswer: no panic (the fuzz engine reports one), and a 422 names its fields.
func checkAnswer(t *testing.T, h admission.Handler, raw []byte) {
	t.Helper()
	if raw == nil {
		return
	}
	// A create only: an update whose old object is the new one checks nothing more
	// (every update rule compares the two), and costs the fuzzer half its inputs.
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}}}
	resp := h.Handle(context.Background(), req)
	if resp.Allowed || resp.Result == nil || resp.Result.Code != http.StatusUnprocessableEntity {
		return
	}
	if resp.Result.Details == nil || len(resp.Result.Details.Causes) == 0 {
		t.Fatalf("a 422 with no causes: %q", resp.Result.Message)
	}
	for _, c := range resp.Result.Details.Causes {
		if c.Field == "" {
			t.Fatalf("a refusal that names no field: %q (input %s)", c.Message, raw)
		}
	}
}

func seedExamples(f *testing.F, files ...string) {
	for _, file := range files {
		raw, err := json.Marshal(example(f, file))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"spec":{"domain":{"devices":{"disks":[{"name":"a"},{"name":"a"}]}}}}`))
}

func FuzzVMIAdmission(f *testing.F) {
	seedExamples(f, "vmi-nocloud.yaml", "vmi-masquerade.yaml")
	dec := admission.NewDecoder(fuzzScheme(f))
	gates := clusterconfig.Config{ForbidBridgeOnPodNetwork: true}
	validator := &vmiValidator{decoder: dec, namespace: "kubevirt", config: configOf(gates)}
	mutator := &vmiMutator{decoder: dec, config: configOf(gates)}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, raw := range [][]byte{data, filled(t, data, &v1.VirtualMachineInstance{})} {
			checkAnswer(t, validator, raw)
			checkAnswer(t, mutator, raw)
		}
	})
}

func FuzzVMAdmission(f *testing.F) {
	seedExamples(f, "vm-cirros.yaml")
	scheme := fuzzScheme(f)
	dec := admission.NewDecoder(scheme)
	finder := instancetype.Finder{Reader: fake.NewClientBuilder().WithScheme(scheme).Build()}
	validator := &vmValidator{decoder: dec, config: configOf(clusterconfig.Config{}), finder: finder}
	mutator := &vmMutator{decoder: dec, finder: finder}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, raw := range [][]byte{data, filled(t, data, &v1.VirtualMachine{})} {
			checkAnswer(t, validator, raw)
			checkAnswer(t, mutator, raw)
		}
	})
}

func FuzzKubeVirtAdmission(f *testing.F) {
	f.Add([]byte(`{"spec":{"configuration":{"developerConfiguration":{"featureGates":["VSOCK","x"]}}}}`))
	f.Add([]byte(`{"spec":{"configuration":{"network":{"defaultNetworkInterface":"slirp"}}}}`))
	scheme := fuzzScheme(f)
	validator := &kubeVirtValidator{decoder: admission.NewDecoder(scheme), reader: fake.NewClientBuilder().WithScheme(scheme).Build()}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, raw := range [][]byte{data, filled(t, data, &v1.KubeVirt{})} {
			checkAnswer(t, validator, raw)
		}
	})
}

// Hostile specs: each is refused, and the refusal names the field.
func TestHostileVMISpecsAreRefusedNamingTheField(t *testing.T) {
	dec := admission.NewDecoder(fuzzScheme(t))
	validator := &vmiValidator{decoder: dec, namespace: "kubevirt", config: configOf(clusterconfig.Config{})}
	for _, tc := range []struct {
		name, field string
		mutate      func(vmi *v1.VirtualMachineInstance)
	}{
		{"a guest larger than any node", "spec.domain.memory.guest", func(vmi *v1.VirtualMachineInstance) {
			vmi.Spec.Domain.Memory = &v1.Memory{Guest: ptr.To(resource.MustParse("1Ei"))}
		}},
		{"a billion cores", "spec.domain.cpu.cores", func(vmi *v1.VirtualMachineInstance) {
			vmi.Spec.Domain.CPU = &v1.CPU{Cores: 1 << 30}
		}},
		{"an empty disk of an exabyte", "spec.volumes[0].emptyDisk.capacity", func(vmi *v1.VirtualMachineInstance) {
			vmi.Spec.Volumes[0].VolumeSource = v1.VolumeSource{EmptyDisk: &v1.EmptyDiskSource{Capacity: resource.MustParse("1Ei")}}
		}},
		{"path traversal in a volume name", "spec.volumes[0].name", func(vmi *v1.VirtualMachineInstance) {
			vmi.Spec.Volumes[0].Name = "../../etc"
			vmi.Spec.Domain.Devices.Disks[0].Name = "../../etc"
		}},
		{"path traversal in a disk name", "spec.domain.devices.disks[0].name", func(vmi *v1.VirtualMachineInstance) {
			vmi.Spec.Domain.Devices.Disks[0].Name = "../x"
		}},
		{"a host path", "spec.volumes[0].hostDisk", func(vmi *v1.VirtualMachineInstance) {
			vmi.Spec.Volumes[0].VolumeSource = v1.VolumeSource{HostDisk: &v1.HostDisk{Path: "/etc/shadow", Type: "Disk"}}
		}},
		{"an unknown disk bus", "spec.domain.devices.disks[0].disk.bus", func(vmi *v1.VirtualMachineInstance) {
			vmi.Spec.Domain.Devices.Disks[0].Disk = &v1.DiskTarget{Bus: "ide"}
		}},
		{"an unknown interface model", "spec.domain.devices.interfaces[0].model", func(vmi *v1.VirtualMachineInstance) {
			vmi.Spec.Domain.Devices.Interfaces = []v1.Interface{{Name: "default", Model: "ne2k_isa", InterfaceBindingMethod: v1.InterfaceBindingMethod{Masquerade: &v1.InterfaceMasquerade{}}}}
			vmi.Spec.Networks = []v1.Network{{Name: "default", NetworkSource: v1.NetworkSource{Pod: &v1.PodNetwork{}}}}
		}},
		{"two disks of one name", "spec.domain.devices.disks[3].name", func(vmi *v1.VirtualMachineInstance) {
			vmi.Spec.Domain.Devices.Disks = append(vmi.Spec.Domain.Devices.Disks, vmi.Spec.Domain.Devices.Disks[0])
		}},
		{"two volumes of one name", "spec.volumes[3].name", func(vmi *v1.VirtualMachineInstance) {
			vmi.Spec.Volumes = append(vmi.Spec.Volumes, vmi.Spec.Volumes[0])
		}},
		{"two networks of one name", "spec.networks[1].name", func(vmi *v1.VirtualMachineInstance) {
			vmi.Spec.Networks = []v1.Network{{Name: "default", NetworkSource: v1.NetworkSource{Pod: &v1.PodNetwork{}}}, {Name: "default", NetworkSource: v1.NetworkSource{Pod: &v1.PodNetwork{}}}}
		}},
		{"a disk of no volume", "spec.domain.devices.disks[0].name", func(vmi *v1.VirtualMachineInstance) {
			vmi.Spec.Domain.Devices.Disks[0].Name = "nowhere"
		}},
		{"a ten-socket, ten-core, ten-thread guest", "spec.domain.cpu.cores", func(vmi *v1.VirtualMachineInstance) {
			vmi.Spec.Domain.CPU = &v1.CPU{Sockets: 10, Cores: 10, Threads: 10}
		}},
		{"a guest of 65 TiB", "spec.domain.resources.requests.memory", func(vmi *v1.VirtualMachineInstance) {
			vmi.Spec.Domain.Memory = nil
			vmi.Spec.Domain.Resources.Requests = k8sv1.ResourceList{k8sv1.ResourceMemory: resource.MustParse("65Ti")}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vmi := example(t, "vmi-nocloud.yaml").(*v1.VirtualMachineInstance)
			tc.mutate(vmi)
			raw, err := json.Marshal(vmi)
			if err != nil {
				t.Fatal(err)
			}
			resp := validator.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{Operation: admissionv1.Create, Object: runtime.RawExtension{Raw: raw}}})
			if resp.Allowed {
				t.Fatalf("allowed")
			}
			var fields []string
			for _, c := range resp.Result.Details.Causes {
				fields = append(fields, c.Field)
			}
			if !slices.Contains(fields, tc.field) {
				t.Fatalf("refused, but not naming %s: %v (%s)", tc.field, fields, resp.Result.Message)
			}
		})
	}
}
