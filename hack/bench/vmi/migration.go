package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"time"

	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	hnmetrics "github.com/hypernest/hypernest/pkg/metrics"
)

// migrationTimeout: a 128 MiB guest and its disk overlay move in seconds on an idle
// machine (the functional tests allow 5 min under load).
const migrationTimeout = 5 * time.Minute

// migrationSample is one live migration: from the create call to the migration object
// showing Succeeded, and the guest's pause at the switch-over that the source node's
// virt-handler recorded (kubevirt_vmi_migration_downtime_seconds).
type migrationSample struct {
	from, to string
	took     time.Duration
	downtime *time.Duration
}

// migrations boots the guest of template and live-migrates it n times between the
// cluster's nodes (it needs two that take VMIs), recording the figures in rec.
func migrations(ctx context.Context, c client.Client, cs kubernetes.Interface, template *v1.VirtualMachineInstance, n int, rec *record) error {
	ns := &k8sv1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-migration-"}}
	if err := c.Create(ctx, ns); err != nil {
		return err
	}
	defer c.Delete(context.Background(), ns)
	vmi := template.DeepCopy()
	vmi.Name, vmi.Namespace = "bench-migrating", ns.Name
	// The guest boots on this machine's own node (the oldest: the one cluster-up started),
	// whose pods' folders the benchmark reads its console from; the others are cordoned
	// meanwhile.
	uncordon, err := cordonAllButFirst(ctx, c)
	defer uncordon()
	if err != nil {
		return err
	}
	s, err := one(ctx, c, vmi) // booted: the cloud-init marker is on its console
	if err != nil {
		return fmt.Errorf("VMI %s: %w", vmi.Name, err)
	}
	uncordon()
	fmt.Printf("migrating guest booted (create->Running %.1fs, then %.1fs to the cloud-init marker)\n", s.toRunning.Seconds(), s.toMarker.Seconds())
	if err := wait(time.Minute, func() (bool, error) {
		err := c.Get(ctx, client.ObjectKeyFromObject(vmi), vmi)
		cond := v1.VMICondition(&vmi.Status, v1.VirtualMachineInstanceIsMigratable)
		return cond != nil && cond.Status == k8sv1.ConditionTrue, err
	}); err != nil {
		return fmt.Errorf("VMI %s is not live-migratable: %v", vmi.Name, vmi.Status.Conditions)
	}

	var samples []migrationSample
	for i := 0; i < n; i++ {
		if err := c.Get(ctx, client.ObjectKeyFromObject(vmi), vmi); err != nil {
			return err
		}
		source := vmi.Status.NodeName
		before, err := downtimeHistogram(ctx, c, cs, source)
		if err != nil {
			return err
		}
		m := &v1.VirtualMachineInstanceMigration{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("bench-migration-%d", i), Namespace: ns.Name},
			Spec:       v1.VirtualMachineInstanceMigrationSpec{VMIName: vmi.Name},
		}
		began := time.Now()
		if err := c.Create(ctx, m); err != nil {
			return err
		}
		if err := wait(migrationTimeout, func() (bool, error) {
			err := c.Get(ctx, client.ObjectKeyFromObject(m), m)
			return m.Status.Phase == v1.MigrationSucceeded || m.Status.Phase == v1.MigrationFailed, err
		}); err != nil {
			return fmt.Errorf("migration %s did not end: %w", m.Name, err)
		}
		if m.Status.Phase == v1.MigrationFailed {
			return fmt.Errorf("migration %s failed: %s", m.Name, vmiFailure(ctx, c, vmi))
		}
		sample := migrationSample{from: source, took: time.Since(began)}
		if err := c.Get(ctx, client.ObjectKeyFromObject(vmi), vmi); err != nil {
			return err
		}
		sample.to = vmi.Status.NodeName
		// The source handler observes the pause when it reads the migration's end, at
		// about the time the object turns Succeeded: give it a few seconds.
		_ = wait(10*time.Second, func() (bool, error) {
			after, err := downtimeHistogram(ctx, c, cs, source)
			if err != nil || after.count != before.count+1 {
				return false, err
			}
			sample.downtime = ptr.To(time.Duration((after.sum - before.sum) * float64(time.Second)))
			return true, nil
		})
		samples = append(samples, sample)
		downtime := "not recorded"
		if sample.downtime != nil {
			downtime = fmt.Sprintf("%d ms", sample.downtime.Milliseconds())
		}
		fmt.Printf("migration %d: %s -> %s in %.2fs (create -> Succeeded), guest paused %s\n", i+1, sample.from, sample.to, sample.took.Seconds(), downtime)
	}
	reportMigrations(samples, rec)
	return nil
}

// vmiFailure is why the VMI's last migration failed, for the error.
func vmiFailure(ctx context.Context, c client.Client, vmi *v1.VirtualMachineInstance) string {
	if err := c.Get(ctx, client.ObjectKeyFromObject(vmi), vmi); err != nil || vmi.Status.MigrationState == nil {
		return "the VMI shows no migration state"
	}
	return vmi.Status.MigrationState.FailureReason
}

func reportMigrations(samples []migrationSample, rec *record) {
	var took, paused []float64
	for _, s := range samples {
		took = append(took, s.took.Seconds())
		if s.downtime != nil {
			paused = append(paused, float64(s.downtime.Microseconds())/1000)
		}
	}
	rec.Migrations = ptr.To(len(samples))
	if len(took) > 0 {
		sort.Float64s(took)
		rec.MigrationP50 = ptr.To(percentile(took, 50))
		rec.MigrationMax = ptr.To(took[len(took)-1])
	}
	if len(paused) > 0 {
		sort.Float64s(paused)
		rec.MigrationDowntimeP50 = ptr.To(percentile(paused, 50))
		rec.MigrationDowntimeMax = ptr.To(paused[len(paused)-1])
	}
}

// downtimeSum is a scrape of a node's kubevirt_vmi_migration_downtime_seconds.
type downtimeSum struct {
	count uint64
	sum   float64
}

// downtimeHistogram reads node's virt-handler's downtime histogram through the API
// server's pod proxy.
func downtimeHistogram(ctx context.Context, c client.Client, cs kubernetes.Interface, node string) (downtimeSum, error) {
	pods := &k8sv1.PodList{}
	if err := c.List(ctx, pods, client.InNamespace(installNamespace), client.MatchingLabels{v1.AppLabel: "virt-handler"}); err != nil {
		return downtimeSum{}, err
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName != node || p.Status.Phase != k8sv1.PodRunning {
			continue
		}
		body, err := cs.CoreV1().Pods(p.Namespace).ProxyGet("https", p.Name, strconv.Itoa(hnmetrics.Port), "metrics", nil).DoRaw(ctx)
		if err != nil {
			return downtimeSum{}, fmt.Errorf("scraping %s: %w", p.Name, err)
		}
		families, err := parseMetrics(body)
		if err != nil {
			return downtimeSum{}, fmt.Errorf("parsing %s's metrics: %w", p.Name, err)
		}
		var d downtimeSum
		if f := families["kubevirt_vmi_migration_downtime_seconds"]; f != nil {
			for _, m := range f.Metric {
				d.count += m.GetHistogram().GetSampleCount()
				d.sum += m.GetHistogram().GetSampleSum()
			}
		}
		return d, nil
	}
	return downtimeSum{}, fmt.Errorf("no running virt-handler on node %s", node)
}

// readRecord loads the figures an earlier step of the run wrote to path.
func readRecord(path string, rec *record) error {
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return json.Unmarshal(data, rec)
}

// cordonAllButFirst marks every node but the oldest unschedulable; the function it
// returns undoes that (once, however often it is called).
func cordonAllButFirst(ctx context.Context, c client.Client) (func(), error) {
	nodes := &k8sv1.NodeList{}
	if err := c.List(ctx, nodes); err != nil {
		return func() {}, err
	}
	sort.Slice(nodes.Items, func(i, j int) bool {
		return nodes.Items[i].CreationTimestamp.Before(&nodes.Items[j].CreationTimestamp)
	})
	var cordoned []*k8sv1.Node
	undo := func() {
		for _, n := range cordoned {
			patch := client.MergeFrom(n.DeepCopy())
			n.Spec.Unschedulable = false
			if err := c.Patch(context.Background(), n, patch); err != nil {
				fmt.Fprintf(os.Stderr, "uncordoning %s: %v (kubectl uncordon %s)\n", n.Name, err, n.Name)
			}
		}
		cordoned = nil
	}
	for i := 1; i < len(nodes.Items); i++ {
		n := &nodes.Items[i]
		if n.Spec.Unschedulable {
			continue
		}
		patch := client.MergeFrom(n.DeepCopy())
		n.Spec.Unschedulable = true
		if err := c.Patch(ctx, n, patch); err != nil {
			return undo, err
		}
		cordoned = append(cordoned, n)
	}
	return undo, nil
}
