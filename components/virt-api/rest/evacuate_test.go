package rest

import (
	"context"
	"net/http"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// The evacuate/cancel decisions. The functional tests call it through the API server
// with virtctl, on a VMI a real eviction marked.

func evacuatingVMI(node string) *v1.VirtualMachineInstance {
	vmi := testVMI(v1.Running)
	vmi.Status.NodeName = "node01"
	vmi.Status.EvacuationNodeName = node
	vmi.OwnerReferences = []metav1.OwnerReference{{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachine", Name: "vm", UID: "vm-uid", Controller: ptr.To(true)}}
	return vmi
}

func ownedVM() *v1.VirtualMachine {
	vm := testVM(ptr.To(v1.RunStrategyAlways), nil)
	vm.UID = "vm-uid"
	return vm
}

func evacuationNodeName(t *testing.T, a *API) string {
	t.Helper()
	vmi := &v1.VirtualMachineInstance{}
	if err := a.Client.Get(context.Background(), vmName, vmi); err != nil {
		t.Fatal(err)
	}
	return vmi.Status.EvacuationNodeName
}

func TestEvacuateCancelClearsTheMark(t *testing.T) {
	for name, handler := range map[string]func(*API) func(http.ResponseWriter, *http.Request, types.NamespacedName){
		"vm": func(a *API) func(http.ResponseWriter, *http.Request, types.NamespacedName) { return a.evacuateCancelVM },
		"vmi": func(a *API) func(http.ResponseWriter, *http.Request, types.NamespacedName) {
			return a.evacuateCancelVMI
		},
	} {
		a, _ := newAPI(t, ownedVM(), evacuatingVMI("node01"))
		if w := call(handler(a), `{"evacuationNodeName":"node01","dryRun":["All"]}`); w.Code != http.StatusOK {
			t.Fatalf("%s, dry run: status %d: %s", name, w.Code, w.Body)
		}
		if got := evacuationNodeName(t, a); got != "node01" {
			t.Errorf("%s: a dry run cleared the mark", name)
		}
		if w := call(handler(a), `{"evacuationNodeName":"node01"}`); w.Code != http.StatusOK {
			t.Fatalf("%s: status %d: %s", name, w.Code, w.Body)
		}
		if got := evacuationNodeName(t, a); got != "" {
			t.Errorf("%s: evacuationNodeName %q after the cancel", name, got)
		}
		if w := call(handler(a), `{"evacuationNodeName":"node01"}`); w.Code != http.StatusOK {
			t.Errorf("%s: cancelling again: status %d, want 200 (nothing to cancel)", name, w.Code)
		}
	}
}

// An empty node name cancels whatever evacuation there is (KubeVirt's virt-api refuses it
// with a 500, and KubeVirt's virtctl before v1.9 sends none).
func TestEvacuateCancelWithoutNodeName(t *testing.T) {
	a, _ := newAPI(t, ownedVM(), evacuatingVMI("node01"))
	if w := call(a.evacuateCancelVMI, ``); w.Code != http.StatusOK {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if got := evacuationNodeName(t, a); got != "" {
		t.Errorf("evacuationNodeName %q after the cancel", got)
	}
}

func TestEvacuateCancelRefusals(t *testing.T) {
	notTheVMs := evacuatingVMI("node01")
	notTheVMs.OwnerReferences = nil
	for name, tc := range map[string]struct {
		vmi  *v1.VirtualMachineInstance
		body string
		want int
	}{
		"a VM without VMI":             {nil, `{}`, http.StatusConflict},
		"a VMI that is not the VM's":   {notTheVMs, `{}`, http.StatusConflict},
		"an unknown field in the body": {evacuatingVMI("node01"), `{"node":"node01"}`, http.StatusBadRequest},
	} {
		objs := []client.Object{ownedVM()}
		if tc.vmi != nil {
			objs = append(objs, tc.vmi)
		}
		a, _ := newAPI(t, objs...)
		if w := call(a.evacuateCancelVM, tc.body); w.Code != tc.want {
			t.Errorf("%s: status %d, want %d: %s", name, w.Code, tc.want, w.Body)
		}
		if tc.vmi != nil && evacuationNodeName(t, a) != "node01" {
			t.Errorf("%s: the mark was cleared", name)
		}
	}
	a, _ := newAPI(t)
	if w := call(a.evacuateCancelVMI, `{}`); w.Code != http.StatusNotFound {
		t.Errorf("no VMI: status %d, want 404", w.Code)
	}
}
