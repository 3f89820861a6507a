package webhooks

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// The fake client stands in for the API server's reads, to reach every refusal; the
// functional tests send a migration through the real API server and virt-api.
func migrationValidatorWith(t *testing.T, objs ...client.Object) *migrationValidator {
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	reader := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	return &migrationValidator{decoder: decoder(t), reader: reader, namespace: "kubevirt"}
}

func migrationOf(vmi string) *v1.VirtualMachineInstanceMigration {
	return &v1.VirtualMachineInstanceMigration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "kubevirt.io/v1", Kind: "VirtualMachineInstanceMigration"},
		ObjectMeta: metav1.ObjectMeta{Name: "move", Namespace: "default"},
		Spec:       v1.VirtualMachineInstanceMigrationSpec{VMIName: vmi},
	}
}

func runningVMI(name string, migratable *v1.VirtualMachineInstanceCondition) *v1.VirtualMachineInstance {
	vmi := &v1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"}}
	vmi.Status.Phase = v1.Running
	if migratable != nil {
		vmi.Status.Conditions = []v1.VirtualMachineInstanceCondition{*migratable}
	}
	return vmi
}

func TestMigrationMutatorLabelsAndFinalizes(t *testing.T) {
	m := &migrationMutator{decoder: decoder(t)}
	resp := m.Handle(context.Background(), request(t, admissionv1.Create, migrationOf("vm-a"), nil, "alice"))
	if !resp.Allowed {
		t.Fatalf("refused: %v", resp.Result)
	}
	var label, finalizer bool
	for _, p := range resp.Patches {
		label = label || (p.Path == "/metadata/labels" && strings.Contains(toJSON(t, p.Value), `"kubevirt.io/vmi-name":"vm-a"`))
		finalizer = finalizer || (p.Path == "/metadata/finalizers" && strings.Contains(toJSON(t, p.Value), v1.MigrationFinalizer))
	}
	if !label || !finalizer {
		t.Errorf("patches %+v: want the label kubevirt.io/vmi-name=vm-a and the finalizer %s", resp.Patches, v1.MigrationFinalizer)
	}
}

func TestMigrationValidatorRefusals(t *testing.T) {
	notMigratable := &v1.VirtualMachineInstanceCondition{Type: v1.VirtualMachineInstanceIsMigratable, Status: k8sv1.ConditionFalse,
		Reason: "DisksNotLiveMigratable", Message: "cannot migrate VMI: PVC data is not shared, live migration requires that all PVCs must be shared (using ReadWriteMany access mode)"}
	done := runningVMI("done", nil)
	done.Status.Phase = v1.Succeeded
	inFlight := migrationOf("busy")
	inFlight.Name, inFlight.UID = "earlier", "1234"
	inFlight.Labels = map[string]string{v1.MigrationSelectorLabel: "busy"}
	inFlight.Status.Phase = v1.MigrationRunning
	ended := migrationOf("pending")
	ended.Name = "ended"
	ended.Labels = map[string]string{v1.MigrationSelectorLabel: "pending"}
	ended.Status.Phase = v1.MigrationFailed
	v := migrationValidatorWith(t, runningVMI("fixed", notMigratable), done, runningVMI("busy", nil), inFlight, runningVMI("pending", nil), ended)

	priority := v1.PriorityUserTriggered
	withPriority := migrationOf("fixed")
	withPriority.Spec.Priority = &priority
	badSelector := migrationOf("pending")
	badSelector.Spec.AddedNodeSelector = map[string]string{"zone/a/b": "x"}
	badSelectorValue := migrationOf("pending")
	badSelectorValue.Spec.AddedNodeSelector = map[string]string{"topology.kubernetes.io/zone": "not a value"}
	for name, tc := range map[string]struct {
		vmim *v1.VirtualMachineInstanceMigration
		user string
		want string
	}{
		"no VMI named":                       {migrationOf(""), "alice", "spec.vmiName: Required value: vmiName is missing"},
		"a priority from a user":             {withPriority, "alice", "spec.priority: Forbidden: Migration priority queue, only virt-controller is allowed to set priority field"},
		"a missing VMI":                      {migrationOf("nowhere"), "alice", `the VMI "default/nowhere" does not exist`},
		"a selector key no node can carry":   {badSelector, "alice", `spec.addedNodeSelector: Invalid value: "zone/a/b"`},
		"a selector value no node can carry": {badSelectorValue, "alice", `spec.addedNodeSelector: Invalid value: "not a value"`},
		"an ended VMI":                       {migrationOf("done"), "alice", "Cannot migrate VMI in finalized state."},
		"a VMI not migratable":               {migrationOf("fixed"), "alice", "Cannot migrate VMI, Reason: DisksNotLiveMigratable, Message: cannot migrate VMI: PVC data is not shared"},
		"a second migration":                 {migrationOf("busy"), "alice", "in-flight migration detected. Active migration job (1234) is currently already in progress for VMI busy."},
		"virt-controller's priority, on a VMI not migratable": {withPriority, "system:serviceaccount:kubevirt:virt-controller", "Cannot migrate VMI, Reason: DisksNotLiveMigratable"},
	} {
		t.Run(name, func(t *testing.T) {
			resp := v.Handle(context.Background(), request(t, admissionv1.Create, tc.vmim, nil, tc.user))
			if resp.Allowed || resp.Result == nil || !strings.Contains(resp.Result.Message, tc.want) {
				t.Errorf("got allowed=%v %v; want refused with %q", resp.Allowed, resp.Result, tc.want)
			}
		})
	}
}

// A live-migratable VMI, and one not running yet (no condition: the migration waits for
// it), may migrate; an ended migration of the VMI does not count as one in flight.
func TestMigrationValidatorAllows(t *testing.T) {
	migratable := &v1.VirtualMachineInstanceCondition{Type: v1.VirtualMachineInstanceIsMigratable, Status: k8sv1.ConditionTrue}
	ended := migrationOf("pending")
	ended.Name = "ended"
	ended.Labels = map[string]string{v1.MigrationSelectorLabel: "pending"}
	ended.Status.Phase = v1.MigrationSucceeded
	v := migrationValidatorWith(t, runningVMI("movable", migratable), runningVMI("pending", nil), ended)
	for _, vmi := range []string{"movable", "pending"} {
		if resp := v.Handle(context.Background(), request(t, admissionv1.Create, migrationOf(vmi), nil, "alice")); !resp.Allowed {
			t.Errorf("the migration of %s was refused: %v", vmi, resp.Result)
		}
	}
}

func TestMigrationValidatorUpdates(t *testing.T) {
	v := migrationValidatorWith(t)
	old := migrationOf("vm-a")
	old.Labels = map[string]string{v1.MigrationSelectorLabel: "vm-a"}
	old.Status.Phase = v1.MigrationRunning

	retargeted := old.DeepCopy()
	retargeted.Spec.VMIName = "vm-b"
	unlabelled := old.DeepCopy()
	unlabelled.Labels = nil
	statusOnly := old.DeepCopy()
	statusOnly.Status.Phase = v1.MigrationSucceeded
	endedOld := old.DeepCopy()
	endedOld.Status.Phase = v1.MigrationSucceeded
	endedUnlabelled := endedOld.DeepCopy()
	endedUnlabelled.Labels = nil
	for name, tc := range map[string]struct {
		old, cur *v1.VirtualMachineInstanceMigration
		want     string // empty: allowed
	}{
		"a changed spec":                 {old, retargeted, "spec: Forbidden: update of Migration object's spec is restricted"},
		"the label gone while in flight": {old, unlabelled, "metadata.labels[kubevirt.io/vmi-name]: Forbidden: selector label can't be removed from / modified on an in-flight migration"},
		"a status change":                {old, statusOnly, ""},
		"the label gone once ended":      {endedOld, endedUnlabelled, ""},
	} {
		t.Run(name, func(t *testing.T) {
			resp := v.Handle(context.Background(), request(t, admissionv1.Update, tc.cur, tc.old, "alice"))
			switch {
			case tc.want == "" && !resp.Allowed:
				t.Errorf("refused: %v", resp.Result)
			case tc.want != "" && (resp.Allowed || !strings.Contains(resp.Result.Message, tc.want)):
				t.Errorf("got allowed=%v %v; want refused with %q", resp.Allowed, resp.Result, tc.want)
			}
		})
	}
}

func toJSON(t *testing.T, v any) string {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}
