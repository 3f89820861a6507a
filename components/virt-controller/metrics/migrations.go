package metrics

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// Migration metrics, KubeVirt's (pkg/monitoring/metrics/virt-controller: migrationstats
// and the VMI collector's migration times): the migrations per phase and their outcome
// read from the cache at each scrape, and the time migrations take from creation to each
// phase.
var (
	migrationPhaseFromCreation = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kubevirt_vmi_migration_phase_transition_time_from_creation_seconds",
		Help:    "Histogram of VM migration phase transitions duration from creation time in seconds.",
		Buckets: phaseBuckets,
	}, []string{"phase"})

	migrationsInPhaseDescs = map[string]*prometheus.Desc{
		"pending":    prometheus.NewDesc("kubevirt_vmi_migrations_in_pending_phase", "Number of current pending migrations.", nil, nil),
		"scheduling": prometheus.NewDesc("kubevirt_vmi_migrations_in_scheduling_phase", "Number of current scheduling migrations.", nil, nil),
		"unset":      prometheus.NewDesc("kubevirt_vmi_migrations_in_unset_phase", "Number of current unset migrations.", nil, nil),
		"running":    prometheus.NewDesc("kubevirt_vmi_migrations_in_running_phase", "Number of current running migrations.", nil, nil),
	}
	migrationSucceededDesc = prometheus.NewDesc("kubevirt_vmi_migration_succeeded", "Indicates if the VMI migration succeeded.",
		[]string{"vmi", "vmim", "namespace"}, nil)
	migrationFailedDesc = prometheus.NewDesc("kubevirt_vmi_migration_failed", "Indicates if the VMI migration failed.",
		[]string{"vmi", "vmim", "namespace"}, nil)
	migrationStartDesc = prometheus.NewDesc("kubevirt_vmi_migration_start_time_seconds", "The time at which the migration started.",
		[]string{"node", "namespace", "name", "migration_name"}, nil)
	migrationEndDesc = prometheus.NewDesc("kubevirt_vmi_migration_end_time_seconds", "The time at which the migration ended.",
		[]string{"node", "namespace", "name", "migration_name", "status"}, nil)
)

func migrationDescs() []*prometheus.Desc {
	descs := []*prometheus.Desc{migrationSucceededDesc, migrationFailedDesc, migrationStartDesc, migrationEndDesc}
	for _, d := range migrationsInPhaseDescs {
		descs = append(descs, d)
	}
	return descs
}

// migrationPhaseGroup is KubeVirt's grouping of the phases into its four gauges: the
// phases between Scheduled and Running count as running; the final ones in none.
func migrationPhaseGroup(phase v1.VirtualMachineInstanceMigrationPhase) string {
	switch phase {
	case v1.MigrationPhaseUnset:
		return "unset"
	case v1.MigrationPending:
		return "pending"
	case v1.MigrationScheduling:
		return "scheduling"
	case v1.MigrationScheduled, v1.MigrationPreparingTarget, v1.MigrationTargetReady, v1.MigrationRunning:
		return "running"
	}
	return ""
}

// collectMigrations sends the migration series: vmis are the VMIs the scrape listed.
func (c *collector) collectMigrations(ctx context.Context, ch chan<- prometheus.Metric, vmis []v1.VirtualMachineInstance) {
	migrations := &v1.VirtualMachineInstanceMigrationList{}
	if err := c.reader.List(ctx, migrations); err != nil {
		ctrl.Log.WithName("metrics").Error(err, "listing migrations for kubevirt_vmi_migration_*")
	}
	counts := map[string]int{}
	nameOf := map[types.UID]string{}
	for i := range migrations.Items {
		m := &migrations.Items[i]
		nameOf[m.UID] = m.Name
		switch m.Status.Phase {
		case v1.MigrationSucceeded:
			ch <- prometheus.MustNewConstMetric(migrationSucceededDesc, prometheus.GaugeValue, 1, m.Spec.VMIName, m.Name, m.Namespace)
		case v1.MigrationFailed:
			ch <- prometheus.MustNewConstMetric(migrationFailedDesc, prometheus.GaugeValue, 1, m.Spec.VMIName, m.Name, m.Namespace)
		default:
			counts[migrationPhaseGroup(m.Status.Phase)]++
		}
	}
	for group, desc := range migrationsInPhaseDescs {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, float64(counts[group]))
	}
	for i := range vmis {
		vmi := &vmis[i]
		ms := vmi.Status.MigrationState
		if ms == nil {
			continue
		}
		// KubeVirt's "<none>" for a migration object that is gone.
		name, ok := nameOf[ms.MigrationUID]
		if !ok {
			name = "<none>"
		}
		if ms.StartTimestamp != nil {
			ch <- prometheus.MustNewConstMetric(migrationStartDesc, prometheus.GaugeValue, float64(ms.StartTimestamp.Unix()),
				vmi.Status.NodeName, vmi.Namespace, vmi.Name, name)
		}
		if ms.EndTimestamp != nil {
			status := ""
			if ms.Completed {
				status = "succeeded"
				if ms.Failed {
					status = "failed"
				}
			}
			ch <- prometheus.MustNewConstMetric(migrationEndDesc, prometheus.GaugeValue, float64(ms.EndTimestamp.Unix()),
				vmi.Status.NodeName, vmi.Namespace, vmi.Name, name, status)
		}
	}
}

// observeMigrationTransition records a migration's time from creation to each phase it
// enters (on the leader, through onLeaderUpdates).
func observeMigrationTransition(old, m *v1.VirtualMachineInstanceMigration) {
	if old.Status.Phase == m.Status.Phase || m.Status.Phase == v1.MigrationPhaseUnset {
		return
	}
	for _, t := range m.Status.PhaseTransitionTimestamps {
		if t.Phase == m.Status.Phase {
			migrationPhaseFromCreation.WithLabelValues(string(m.Status.Phase)).Observe(seconds(m.CreationTimestamp.Time, t.PhaseTransitionTimestamp.Time))
			return
		}
	}
}
