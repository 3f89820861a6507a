package vmi

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"k8s.io/utils/ptr"

	k8sv1 "k8s.io/api/core/v1"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-handler/domainstats"
)

// A guest is live-migratable unless a disk or its network cannot follow it, and then
// the condition says which, in KubeVirt's reasons.
func TestLiveMigratable(t *testing.T) {
	claim := func(modes ...k8sv1.PersistentVolumeAccessMode) *v1.VirtualMachineInstance {
		vmi := scheduledVMI()
		vmi.Status.VolumeStatus = []v1.VolumeStatus{{Name: "data", PersistentVolumeClaimInfo: &v1.PersistentVolumeClaimInfo{ClaimName: "data-pvc", AccessModes: modes}}}
		return vmi
	}
	bridged := func(annotated bool) *v1.VirtualMachineInstance {
		vmi := scheduledVMI()
		vmi.Spec.Domain.Devices.Interfaces = []v1.Interface{{Name: "default", InterfaceBindingMethod: v1.InterfaceBindingMethod{Bridge: &v1.InterfaceBridge{}}}}
		if annotated {
			vmi.Annotations = map[string]string{v1.AllowPodBridgeNetworkLiveMigrationAnnotation: ""}
		}
		return vmi
	}
	for name, tc := range map[string]struct {
		vmi    *v1.VirtualMachineInstance
		reason string
		says   string
	}{
		"local disks only":           {scheduledVMI(), "", ""},
		"a shared claim":             {claim(k8sv1.ReadWriteMany), "", ""},
		"a claim of one node":        {claim(k8sv1.ReadWriteOnce), reasonDisksNotMigratable, "PVC data-pvc is not shared"},
		"bridged to the pod network": {bridged(false), reasonInterfaceNotMigratable, "does not use masquerade"},
		"bridged, and allowed":       {bridged(true), "", ""},
	} {
		ok, reason, message := liveMigratable(tc.vmi)
		if ok != (tc.reason == "") || reason != tc.reason || !strings.Contains(message, tc.says) {
			t.Errorf("%s: got %v %q %q; want reason %q saying %q", name, ok, reason, message, tc.reason, tc.says)
		}
	}
}

// The switch-over pauses the guest on both nodes: that is no pause of the user's. A
// domain that migrated away ended nothing: the VMI goes on, on the target node.
func TestApplyDomainDuringMigration(t *testing.T) {
	r, _ := newReconciler()
	vmi := scheduledVMI()
	vmi.Status.Phase = v1.Running
	s := vmi.Status.DeepCopy()
	r.applyDomain(vmi, launcherPodWithImage("x"), &launcher{}, &launcherv1.DomainStatus{State: launcherv1.DomainState_PAUSED, Reason: launcherv1.ReasonPausedMigration}, s)
	if got := condition(s, v1.VirtualMachineInstancePaused); got != "absent" {
		t.Errorf("Paused while the migration switches over: %s", got)
	}
	if got := condition(s, v1.VirtualMachineInstanceReady); got != "True/" {
		t.Errorf("Ready while the migration switches over: %s", got)
	}

	before := vmi.Status.DeepCopy()
	r.applyDomain(vmi, launcherPodWithImage("x"), &launcher{}, &launcherv1.DomainStatus{State: launcherv1.DomainState_SHUTOFF, Reason: launcherv1.ReasonShutoffMigrated}, before)
	if before.Phase != v1.Running || before.Reason != "" {
		t.Errorf("a domain that migrated away ended the VMI: phase %s, reason %q", before.Phase, before.Reason)
	}
}

// The guest's pause at the switch-over goes into the downtime histogram once per
// migration, also when the status patch that recorded the end lost a conflict and the
// retry sees the migration as not Completed again.
func TestMirrorMigrationObservesDowntimeOnce(t *testing.T) {
	r, _ := newReconciler()
	r.NodeName = "node-downtime-once"
	vmi := scheduledVMI()
	l := &launcher{}
	lm := &launcherv1.MigrationStatus{Uid: "m1", StartTimestamp: "2026-12-03T10:00:00Z", Completed: true, EndTimestamp: "2026-12-03T10:00:05Z", DowntimeMilliseconds: ptr.To[uint64](300)}
	for attempt := range 2 {
		s := vmi.Status.DeepCopy()
		s.MigrationState = &v1.VirtualMachineInstanceMigrationState{MigrationUID: "m1", SourceNode: r.NodeName}
		r.mirrorMigration(vmi, l, lm, s)
		if !s.MigrationState.Completed {
			t.Fatalf("attempt %d: not Completed: %+v", attempt, s.MigrationState)
		}
	}
	observed := &dto.Metric{}
	if err := domainstats.MigrationDowntime.WithLabelValues(r.NodeName).(prometheus.Histogram).Write(observed); err != nil {
		t.Fatal(err)
	}
	if got := observed.GetHistogram().GetSampleCount(); got != 1 {
		t.Errorf("downtime observed %d times for one migration, want 1", got)
	}
	if got := observed.GetHistogram().GetSampleSum(); got != 0.3 {
		t.Errorf("downtime sum %v s, want 0.3", got)
	}
}

// The migration's record in the launcher is mirrored into the VMI's status, KubeVirt's
// fields: the start, the method, and the end, either way.
func TestMirrorMigration(t *testing.T) {
	r, rec := newReconciler()
	vmi := scheduledVMI()
	s := vmi.Status.DeepCopy()
	s.MigrationState = &v1.VirtualMachineInstanceMigrationState{MigrationUID: "m1", SourceNode: "node01", TargetNode: "node02"}
	lm := &launcherv1.MigrationStatus{Uid: "m1", StartTimestamp: "2026-12-03T10:00:00.5Z", Mode: string(v1.MigrationPreCopy), CopiedDisks: []string{"vda"}}
	r.mirrorMigration(vmi, &launcher{}, lm, s)
	ms := s.MigrationState
	if ms.StartTimestamp == nil || ms.Completed || ms.Mode != v1.MigrationPreCopy || s.MigrationMethod != v1.BlockMigration || s.MigrationTransport != v1.MigrationTransportUnix {
		t.Fatalf("running: %+v, method %q, transport %q", ms, s.MigrationMethod, s.MigrationTransport)
	}
	lm.Completed, lm.Failed, lm.FailureReason, lm.EndTimestamp = true, true, "Live migration has been aborted", "2026-12-03T10:00:03Z"
	lm.AbortStatus = string(v1.MigrationAbortSucceeded)
	r.mirrorMigration(vmi, &launcher{}, lm, s)
	if !ms.Completed || !ms.Failed || ms.FailureReason != lm.FailureReason || ms.EndTimestamp == nil || ms.AbortStatus != v1.MigrationAbortSucceeded {
		t.Fatalf("ended: %+v", ms)
	}
	if ev := events(rec); len(ev) != 1 || !strings.Contains(ev[0], "migration uid m1 failed") {
		t.Errorf("want one failure event, got %q", ev)
	}
}
