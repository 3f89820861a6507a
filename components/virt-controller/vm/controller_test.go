package vm

import (
	"context"
	"testing"
	"time"

	k8sv1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/components/virt-controller/expectations"
)

// These cover the run-strategy decisions the functional tests cannot reach in their
// time (backoff, Once, requests of other VMIs). The fake client stands in for the API
// server only; the functional tests run the controller for real.

func newVM(strategy v1.RunStrategy) *v1.VirtualMachine {
	return &v1.VirtualMachine{
		ObjectMeta: metav1.ObjectMeta{Name: "vm", Namespace: "ns", UID: "vm-uid"},
		Spec: v1.VirtualMachineSpec{
			RunStrategy: ptr.To(strategy),
			Template:    &v1.VirtualMachineInstanceTemplateSpec{},
		},
	}
}

type fixture struct {
	t   *testing.T
	r   *Reconciler
	c   client.Client
	now time.Time
}

func newFixture(t *testing.T, objs ...client.Object) *fixture {
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithStatusSubresource(&v1.VirtualMachine{}, &v1.VirtualMachineInstance{}).Build()
	f := &fixture{t: t, c: c, now: time.Unix(1_000_000, 0)}
	f.r = &Reconciler{Client: c, Recorder: record.NewFakeRecorder(100), Expectations: expectations.New(), Now: func() time.Time { return f.now }}
	return f
}

func (f *fixture) reconcile() ctrl.Result {
	f.t.Helper()
	// A fresh store each round: the fake client has no cache lag to wait for.
	f.r.Expectations = expectations.New()
	res, err := f.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: types.NamespacedName{Namespace: "ns", Name: "vm"}})
	if err != nil {
		f.t.Fatalf("reconcile: %v", err)
	}
	return res
}

func (f *fixture) vm() *v1.VirtualMachine {
	vm := &v1.VirtualMachine{}
	if err := f.c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "vm"}, vm); err != nil {
		f.t.Fatal(err)
	}
	return vm
}

func (f *fixture) vmi() *v1.VirtualMachineInstance {
	vmi := &v1.VirtualMachineInstance{}
	err := f.c.Get(context.Background(), types.NamespacedName{Namespace: "ns", Name: "vm"}, vmi)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		f.t.Fatal(err)
	}
	return vmi
}

func (f *fixture) setVMIPhase(phase v1.VirtualMachineInstancePhase) {
	vmi := f.vmi()
	vmi.Status.Phase = phase
	if err := f.c.Status().Update(context.Background(), vmi); err != nil {
		f.t.Fatal(err)
	}
}

// deleteVMI stands in for virt-controller's VMI controller and the garbage collector.
func (f *fixture) finishDeletion() {
	if vmi := f.vmi(); vmi != nil {
		_ = f.c.Delete(context.Background(), vmi)
	}
}

func TestHaltedStaysStopped(t *testing.T) {
	f := newFixture(t, newVM(v1.RunStrategyHalted))
	f.reconcile()
	if f.vmi() != nil {
		t.Fatal("a Halted VM must not get a VMI")
	}
	if got := f.vm().Status.PrintableStatus; got != v1.VirtualMachineStatusStopped {
		t.Fatalf("printableStatus = %s, want Stopped", got)
	}
}

func TestAlwaysRestartsWithBackoff(t *testing.T) {
	f := newFixture(t, newVM(v1.RunStrategyAlways))
	f.reconcile()
	first := f.vmi()
	if first == nil || first.Labels[v1.VirtualMachineNameLabel] != "vm" || metav1.GetControllerOf(first).UID != "vm-uid" {
		t.Fatalf("an Always VM must get a VMI it controls, got %+v", first)
	}

	f.setVMIPhase(v1.Failed)
	f.reconcile() // counts the failure, deletes the VMI
	f.finishDeletion()
	res := f.reconcile()
	vm := f.vm()
	if f.vmi() != nil {
		t.Fatal("the VM must wait out the backoff before a new VMI")
	}
	if vm.Status.PrintableStatus != v1.VirtualMachineStatusCrashLoopBackOff || vm.Status.StartFailure.ConsecutiveFailCount != 1 {
		t.Fatalf("want CrashLoopBackOff after 1 failure, got %s %+v", vm.Status.PrintableStatus, vm.Status.StartFailure)
	}
	if res.RequeueAfter != backoffBase {
		t.Fatalf("requeue after %s, want %s", res.RequeueAfter, backoffBase)
	}

	f.now = f.now.Add(backoffBase + time.Second)
	f.reconcile()
	if f.vmi() == nil {
		t.Fatal("after the backoff the VM must start a new VMI")
	}
	f.setVMIPhase(v1.Running)
	f.reconcile()
	if f.vm().Status.StartFailure != nil {
		t.Fatal("a running VMI must clear the start failures")
	}
}

func TestBackoffDoublesAndCaps(t *testing.T) {
	f := newFixture(t, newVM(v1.RunStrategyAlways))
	vm := newVM(v1.RunStrategyAlways)
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second, 5 * time.Minute, 5 * time.Minute}
	for i, w := range want {
		vmi := &v1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{UID: types.UID(rune('a' + i))}, Status: v1.VirtualMachineInstanceStatus{Phase: v1.Failed}}
		f.r.recordFailure(vm, vmi)
		f.r.recordFailure(vm, vmi) // the same VMI counts once
		if got := vm.Status.StartFailure.RetryAfterTimestamp.Sub(f.now); got != w {
			t.Fatalf("failure %d: backoff %s, want %s", i+1, got, w)
		}
	}
}

func TestRestartRequestReplacesTheVMI(t *testing.T) {
	f := newFixture(t, newVM(v1.RunStrategyManual))
	f.reconcile()
	if f.vmi() != nil {
		t.Fatal("a Manual VM starts only on request")
	}
	vm := f.vm()
	vm.Status.StateChangeRequests = []v1.VirtualMachineStateChangeRequest{{Action: v1.StartRequest}}
	if err := f.c.Status().Update(context.Background(), vm); err != nil {
		t.Fatal(err)
	}
	f.reconcile()
	first := f.vmi()
	if first == nil || len(f.vm().Status.StateChangeRequests) != 0 {
		t.Fatal("the start request must create the VMI and be consumed")
	}

	vm = f.vm()
	vm.Status.StateChangeRequests = []v1.VirtualMachineStateChangeRequest{{Action: v1.StopRequest, UID: &first.UID}, {Action: v1.StartRequest}}
	if err := f.c.Status().Update(context.Background(), vm); err != nil {
		t.Fatal(err)
	}
	f.reconcile()
	if len(f.vm().Status.StateChangeRequests) != 2 {
		t.Fatal("the requests must wait until the old VMI is gone")
	}
	f.finishDeletion()
	f.reconcile()
	if f.vmi() == nil || len(f.vm().Status.StateChangeRequests) != 0 {
		t.Fatal("once the old VMI is gone the start must create a new one")
	}
}

func TestStopRequestForAnotherVMIIsDropped(t *testing.T) {
	other := types.UID("an-older-vmi")
	vm := newVM(v1.RunStrategyManual)
	vm.Status.StateChangeRequests = []v1.VirtualMachineStateChangeRequest{{Action: v1.StartRequest}}
	f := newFixture(t, vm)
	f.reconcile()
	vm = f.vm()
	vm.Status.StateChangeRequests = []v1.VirtualMachineStateChangeRequest{{Action: v1.StopRequest, UID: &other}}
	if err := f.c.Status().Update(context.Background(), vm); err != nil {
		t.Fatal(err)
	}
	f.reconcile()
	if f.vmi() == nil || f.vmi().DeletionTimestamp != nil {
		t.Fatal("a stop naming another VMI must not stop this one")
	}
	if len(f.vm().Status.StateChangeRequests) != 0 {
		t.Fatal("the stale stop must be dropped")
	}
}

func TestOnceRunsOnce(t *testing.T) {
	f := newFixture(t, newVM(v1.RunStrategyOnce))
	f.reconcile()
	if f.vmi() == nil {
		t.Fatal("a Once VM starts when created")
	}
	f.setVMIPhase(v1.Succeeded)
	f.reconcile()
	if vmi := f.vmi(); vmi == nil || vmi.DeletionTimestamp != nil {
		t.Fatal("a finished Once VMI stays")
	}
	if got := f.vm().Status.PrintableStatus; got != v1.VirtualMachineStatusStopped {
		t.Fatalf("printableStatus = %s, want Stopped", got)
	}
}

func TestPrintableStatus(t *testing.T) {
	r := &Reconciler{Now: time.Now}
	vm := newVM(v1.RunStrategyAlways)
	vmi := func(phase v1.VirtualMachineInstancePhase, conds ...v1.VirtualMachineInstanceCondition) *v1.VirtualMachineInstance {
		return &v1.VirtualMachineInstance{Status: v1.VirtualMachineInstanceStatus{Phase: phase, Conditions: conds}}
	}
	cases := []struct {
		vmi  *v1.VirtualMachineInstance
		want v1.VirtualMachinePrintableStatus
	}{
		{nil, v1.VirtualMachineStatusStopped},
		{vmi(v1.Pending), v1.VirtualMachineStatusStarting},
		{vmi(v1.Scheduling, v1.VirtualMachineInstanceCondition{Type: "PodScheduled", Status: k8sv1.ConditionFalse, Reason: k8sv1.PodReasonUnschedulable}), v1.VirtualMachineStatusUnschedulable},
		{vmi(v1.Scheduling, v1.VirtualMachineInstanceCondition{Type: v1.VirtualMachineInstanceSynchronized, Status: k8sv1.ConditionFalse, Reason: "ImagePullBackOff"}), v1.VirtualMachineStatusImagePullBackOff},
		{vmi(v1.Running), v1.VirtualMachineStatusRunning},
		{vmi(v1.Running, v1.VirtualMachineInstanceCondition{Type: v1.VirtualMachineInstancePaused, Status: k8sv1.ConditionTrue}), v1.VirtualMachineStatusPaused},
		{vmi(v1.Succeeded), v1.VirtualMachineStatusStopped},
	}
	for _, c := range cases {
		if got := r.printableStatus(vm, c.vmi); got != c.want {
			t.Errorf("VMI %+v: printableStatus %s, want %s", c.vmi, got, c.want)
		}
	}
	deleting := vmi(v1.Running)
	deleting.DeletionTimestamp = ptr.To(metav1.Now())
	if got := r.printableStatus(vm, deleting); got != v1.VirtualMachineStatusStopping {
		t.Errorf("a deleted VMI: %s, want Stopping", got)
	}
}
