package rest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// The decision table of start, stop and restart, per run strategy and VMI state. The
// fake client stands in for the API server; the functional tests call the real one.

var vmName = types.NamespacedName{Namespace: "ns", Name: "vm"}

func testVM(strategy *v1.RunStrategy, running *bool) *v1.VirtualMachine {
	return &v1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Name: "vm", Namespace: "ns"},
		Spec:       v1.VirtualMachineSpec{RunStrategy: strategy, Running: running, Template: &v1.VirtualMachineInstanceTemplateSpec{}},
	}
}

func testVMI(phase v1.VirtualMachineInstancePhase) *v1.VirtualMachineInstance {
	return &v1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{Name: "vm", Namespace: "ns", UID: "vmi-uid"},
		Status:     v1.VirtualMachineInstanceStatus{Phase: phase},
	}
}

func newAPI(t *testing.T, objs ...client.Object) (*API, client.Client) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&v1.VirtualMachine{}, &v1.VirtualMachineInstance{}).Build()
	return &API{Log: logr.Discard(), Client: c, Reader: c}, c
}

func call(handler func(http.ResponseWriter, *http.Request, types.NamespacedName), body string) *httptest.ResponseRecorder {
	w := httptest.NewRecorder()
	handler(w, httptest.NewRequest(http.MethodPut, "/", strings.NewReader(body)), vmName)
	return w
}

func getVM(t *testing.T, c client.Client) *v1.VirtualMachine {
	vm := &v1.VirtualMachine{}
	if err := c.Get(context.Background(), vmName, vm); err != nil {
		t.Fatal(err)
	}
	return vm
}

func actions(vm *v1.VirtualMachine) string {
	var out []string
	for _, r := range vm.Status.StateChangeRequests {
		a := string(r.Action)
		if r.UID != nil {
			a += "(" + string(*r.UID) + ")"
		}
		out = append(out, a)
	}
	return strings.Join(out, ",")
}

func TestStartHaltedSetsAlways(t *testing.T) {
	a, c := newAPI(t, testVM(ptr.To(v1.RunStrategyHalted), nil))
	if w := call(a.start, ""); w.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if got := *getVM(t, c).Spec.RunStrategy; got != v1.RunStrategyAlways {
		t.Fatalf("runStrategy %s, want Always", got)
	}
}

func TestStartPausedHaltedQueuesAPausedStart(t *testing.T) {
	a, c := newAPI(t, testVM(ptr.To(v1.RunStrategyHalted), nil))
	if w := call(a.start, `{"paused":true}`); w.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	vm := getVM(t, c)
	if actions(vm) != "Start" || vm.Status.StateChangeRequests[0].Data[v1.StartRequestDataPausedKey] != "true" {
		t.Fatalf("requests %+v, want one paused Start", vm.Status.StateChangeRequests)
	}
}

func TestStartRunningIsAConflict(t *testing.T) {
	a, _ := newAPI(t, testVM(ptr.To(v1.RunStrategyAlways), nil), testVMI(v1.Running))
	w := call(a.start, "")
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "VM is already running") {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

func TestStartManualAfterASucceededVMIReplacesIt(t *testing.T) {
	a, c := newAPI(t, testVM(ptr.To(v1.RunStrategyManual), nil), testVMI(v1.Succeeded))
	if w := call(a.start, ""); w.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if got := actions(getVM(t, c)); got != "Stop(vmi-uid),Start" {
		t.Fatalf("requests %s", got)
	}
}

func TestStopNotRunningIsAConflict(t *testing.T) {
	a, _ := newAPI(t, testVM(ptr.To(v1.RunStrategyHalted), nil))
	w := call(a.stop, "")
	if w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "VM is not running") {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

// A VM just started has no VMI until virt-controller makes it (later still while
// virt-controller restarts); stopping it then must not be refused as "not running", or
// the user's stop is lost and the VM starts anyway.
func TestStopAlwaysBeforeItsVMIExists(t *testing.T) {
	a, c := newAPI(t, testVM(ptr.To(v1.RunStrategyAlways), nil))
	if w := call(a.stop, ""); w.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if got := getVM(t, c).Spec.RunStrategy; got == nil || *got != v1.RunStrategyHalted {
		t.Fatalf("runStrategy %v, want Halted", got)
	}
}

// A stop after a restart whose new instance has not started yet wins: the restart's
// pending start request goes, or virt-controller would start the Halted VM again (the
// fault suite lost a stop this way).
func TestStopAfterRestartDropsThePendingStart(t *testing.T) {
	vm := testVM(ptr.To(v1.RunStrategyAlways), nil)
	uid := types.UID("vmi-uid")
	vm.Status.StateChangeRequests = []v1.VirtualMachineStateChangeRequest{{Action: v1.StopRequest, UID: &uid}, {Action: v1.StartRequest}}
	a, c := newAPI(t, vm, testVMI(v1.Running))
	if w := call(a.stop, ""); w.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	got := getVM(t, c)
	if got.Spec.RunStrategy == nil || *got.Spec.RunStrategy != v1.RunStrategyHalted {
		t.Fatalf("runStrategy %v, want Halted", got.Spec.RunStrategy)
	}
	if a := actions(got); a != "Stop(vmi-uid)" {
		t.Fatalf("requests %s, want only the stop", a)
	}
}

func TestStopAlwaysWithGracePeriod(t *testing.T) {
	a, c := newAPI(t, testVM(ptr.To(v1.RunStrategyAlways), nil), testVMI(v1.Running))
	if w := call(a.stop, `{"gracePeriod":0}`); w.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if got := *getVM(t, c).Spec.RunStrategy; got != v1.RunStrategyHalted {
		t.Fatalf("runStrategy %s, want Halted", got)
	}
	vmi := &v1.VirtualMachineInstance{}
	if err := c.Get(context.Background(), vmName, vmi); err != nil {
		t.Fatal(err)
	}
	if vmi.Spec.TerminationGracePeriodSeconds == nil || *vmi.Spec.TerminationGracePeriodSeconds != 0 {
		t.Fatal("the VMI's grace period must be set to the stop's")
	}
}

func TestStopDeprecatedRunningKeepsItsField(t *testing.T) {
	a, c := newAPI(t, testVM(nil, ptr.To(true)), testVMI(v1.Running))
	if w := call(a.stop, ""); w.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	vm := getVM(t, c)
	if vm.Spec.Running == nil || *vm.Spec.Running || vm.Spec.RunStrategy != nil {
		t.Fatalf("want running: false and no runStrategy, got %+v / %v", vm.Spec.Running, vm.Spec.RunStrategy)
	}
}

func TestStopManualQueuesAStopOfThisVMI(t *testing.T) {
	a, c := newAPI(t, testVM(ptr.To(v1.RunStrategyManual), nil), testVMI(v1.Running))
	if w := call(a.stop, ""); w.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if got := actions(getVM(t, c)); got != "Stop(vmi-uid)" {
		t.Fatalf("requests %s", got)
	}
}

func TestRestart(t *testing.T) {
	a, _ := newAPI(t, testVM(ptr.To(v1.RunStrategyHalted), nil))
	if w := call(a.restart, ""); w.Code != http.StatusConflict || !strings.Contains(w.Body.String(), "does not support manual restart") {
		t.Fatalf("Halted: status %d: %s", w.Code, w.Body)
	}
	a, c := newAPI(t, testVM(ptr.To(v1.RunStrategyAlways), nil), testVMI(v1.Running))
	if w := call(a.restart, ""); w.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if got := actions(getVM(t, c)); got != "Stop(vmi-uid),Start" {
		t.Fatalf("requests %s", got)
	}
}

func TestUnknownOptionIsRefused(t *testing.T) {
	a, _ := newAPI(t, testVM(ptr.To(v1.RunStrategyHalted), nil))
	w := call(a.start, `{"pasued":true}`)
	if w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), "pasued") {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

func TestMissingVMIsNotFound(t *testing.T) {
	a, _ := newAPI(t)
	if w := call(a.start, ""); w.Code != http.StatusNotFound {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
}

// staleReader answers the first reads of the VM (stale, or every one when negative)
// with a copy read before its last change.
type staleReader struct {
	client.Reader
	vm    *v1.VirtualMachine
	stale int
}

func (r *staleReader) Get(ctx context.Context, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
	if vm, ok := obj.(*v1.VirtualMachine); ok && r.stale != 0 {
		r.stale--
		r.vm.DeepCopyInto(vm)
		return nil
	}
	return r.Reader.Get(ctx, key, obj, opts...)
}

// A stop decided on a VM read before a restart queued its requests must not halt the
// VM beside the start request it did not see (virt-controller would take that start
// as one of a Halted VM and run it again). Decided again on a fresh read, it drops the
// start and halts the VM.
func TestStopOnAStaleVMIsDecidedAgain(t *testing.T) {
	a, c := newAPI(t, testVM(ptr.To(v1.RunStrategyAlways), nil), testVMI(v1.Running))
	stale := getVM(t, c)
	if w := call(a.restart, ""); w.Code != http.StatusAccepted {
		t.Fatalf("restart: status %d: %s", w.Code, w.Body)
	}
	a.Reader = &staleReader{Reader: c, vm: stale, stale: 1}
	if w := call(a.stop, ""); w.Code != http.StatusAccepted {
		t.Fatalf("stop after one stale read: status %d: %s", w.Code, w.Body)
	}
	got := getVM(t, c)
	if *got.Spec.RunStrategy != v1.RunStrategyHalted || actions(got) != "Stop(vmi-uid)" {
		t.Fatalf("runStrategy %s, requests %s; want Halted and only the restart's stop", *got.Spec.RunStrategy, actions(got))
	}
}

// When every read is stale, the stop is refused with 409 Conflict and nothing is written.
func TestStopOnAStaleVMIsAConflict(t *testing.T) {
	a, c := newAPI(t, testVM(ptr.To(v1.RunStrategyAlways), nil), testVMI(v1.Running))
	stale := getVM(t, c)
	if w := call(a.restart, ""); w.Code != http.StatusAccepted {
		t.Fatalf("restart: status %d: %s", w.Code, w.Body)
	}
	a.Reader = &staleReader{Reader: c, vm: stale, stale: -1}
	if w := call(a.stop, ""); w.Code != http.StatusConflict {
		t.Fatalf("stop on a stale VM: status %d (%s), want 409", w.Code, w.Body)
	}
	got := getVM(t, c)
	if *got.Spec.RunStrategy != v1.RunStrategyAlways || actions(got) != "Stop(vmi-uid),Start" {
		t.Fatalf("after a refused stop: runStrategy %s, requests %s; want Always and the restart's", *got.Spec.RunStrategy, actions(got))
	}
}
