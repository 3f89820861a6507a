package metrics

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

func vmiAt(created time.Time, phase v1.VirtualMachineInstancePhase, stamps map[v1.VirtualMachineInstancePhase]time.Time) *v1.VirtualMachineInstance {
	vmi := &v1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}}
	vmi.Status.Phase = phase
	for p, t := range stamps {
		vmi.Status.PhaseTransitionTimestamps = append(vmi.Status.PhaseTransitionTimestamps,
			v1.VirtualMachineInstancePhaseTransitionTimestamp{Phase: p, PhaseTransitionTimestamp: metav1.NewTime(t)})
	}
	return vmi
}

// observed is the count and sum of one series of a histogram vector.
func observed(t *testing.T, vec *prometheus.HistogramVec, labels ...string) (uint64, float64) {
	t.Helper()
	m := &dto.Metric{}
	if err := vec.WithLabelValues(labels...).(prometheus.Metric).Write(m); err != nil {
		t.Fatal(err)
	}
	return m.Histogram.GetSampleCount(), m.Histogram.GetSampleSum()
}

func TestObserveTransition(t *testing.T) {
	phaseFromCreation.Reset()
	phaseBetween.Reset()
	phaseFromDeletion.Reset()
	created := time.Unix(1000, 0)
	stamps := map[v1.VirtualMachineInstancePhase]time.Time{
		v1.Scheduled: created.Add(2 * time.Second),
		v1.Running:   created.Add(7 * time.Second),
		// A clock behind the creation time must not give a negative duration.
		v1.Failed: created.Add(-time.Second),
	}
	scheduled := vmiAt(created, v1.Scheduled, stamps)
	running := vmiAt(created, v1.Running, stamps)

	observeTransition(scheduled, running)
	observeTransition(running, running) // no change of phase: nothing observed
	if n, sum := observed(t, phaseFromCreation, "Running"); n != 1 || sum != 7 {
		t.Errorf("Running from creation: %d observations summing %v s, want 1 of 7 s", n, sum)
	}
	if n, sum := observed(t, phaseBetween, "Running", "Scheduled"); n != 1 || sum != 5 {
		t.Errorf("Scheduled to Running: %d observations summing %v s, want 1 of 5 s", n, sum)
	}

	failed := vmiAt(created, v1.Failed, stamps)
	deleted := metav1.NewTime(created.Add(-3 * time.Second))
	failed.DeletionTimestamp = &deleted
	observeTransition(running, failed)
	if n, sum := observed(t, phaseFromCreation, "Failed"); n != 1 || sum != 0 {
		t.Errorf("Failed from creation: %d observations summing %v s, want 1 of 0 s (clamped)", n, sum)
	}
	if n, sum := observed(t, phaseFromDeletion, "Failed"); n != 1 || sum != 2 {
		t.Errorf("Failed from deletion: %d observations summing %v s, want 1 of 2 s", n, sum)
	}

	// A phase without its transition timestamp is not observed.
	pending := vmiAt(created, v1.Pending, nil)
	observeTransition(&v1.VirtualMachineInstance{}, pending)
	if n, _ := observed(t, phaseFromCreation, "Pending"); n != 0 {
		t.Errorf("Pending without a timestamp: %d observations, want 0", n)
	}
}

func TestStatusGroupAndEvictable(t *testing.T) {
	for status, group := range map[v1.VirtualMachinePrintableStatus]string{
		v1.VirtualMachineStatusStarting: "starting", v1.VirtualMachineStatusRunning: "running",
		v1.VirtualMachineStatusStopped: "non_running", v1.VirtualMachineStatusPaused: "non_running",
		v1.VirtualMachineStatusCrashLoopBackOff: "error", "SomethingNew": "error",
	} {
		if got := statusGroup(status); got != group {
			t.Errorf("%s: group %s, want %s", status, got, group)
		}
	}
	liveMigrate := v1.EvictionStrategyLiveMigrate
	vmi := &v1.VirtualMachineInstance{}
	if !evictable(vmi) {
		t.Error("a VMI without an eviction strategy is evictable")
	}
	vmi.Spec.EvictionStrategy = &liveMigrate
	if evictable(vmi) {
		t.Error("a LiveMigrate VMI without the LiveMigratable condition is not evictable")
	}
	vmi.Status.Conditions = []v1.VirtualMachineInstanceCondition{{Type: v1.VirtualMachineInstanceIsMigratable, Status: k8sv1.ConditionTrue}}
	if !evictable(vmi) {
		t.Error("a LiveMigrate VMI that can migrate is evictable")
	}
}
