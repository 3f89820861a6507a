package webhooks

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/validation"
	"github.com/hypernest/hypernest/tests/framework"
)

func decoder(t *testing.T) admission.Decoder {
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
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

func example(t *testing.T, file string) runtime.Object {
	obj, err := framework.DecodeExample(file)
	if err != nil {
		t.Fatal(err)
	}
	return obj
}

func TestKubeVirtExamplesPass(t *testing.T) {
	vm := example(t, "vm-cirros.yaml").(*v1.VirtualMachine)
	if errs := validation.ValidateVirtualMachineSpec(field.NewPath("spec"), &vm.Spec); len(errs) > 0 {
		t.Fatalf("vm-cirros.yaml refused: %v", errs)
	}
	v := &vmiValidator{decoder: decoder(t), namespace: "kubevirt"}
	vmi := example(t, "vmi-nocloud.yaml")
	if resp := v.Handle(context.Background(), request(t, admissionv1.Create, vmi, nil, "alice")); !resp.Allowed {
		t.Fatalf("vmi-nocloud.yaml refused: %v", resp.Result)
	}
}

func TestVMErrorsNameTheirFields(t *testing.T) {
	vm := example(t, "vm-cirros.yaml").(*v1.VirtualMachine)
	vm.Spec.Running = ptr.To(true)
	vm.Spec.Template.Spec.Domain.Devices.Disks[1].Name = "cloudinit"
	resp := (&vmValidator{decoder: decoder(t)}).Handle(context.Background(), request(t, admissionv1.Create, vm, nil, "alice"))
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
	v := &vmiValidator{decoder: decoder(t), namespace: "kubevirt"}
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

func TestVMIMutatorFillsDefaults(t *testing.T) {
	m := &vmiMutator{decoder: decoder(t)}
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
