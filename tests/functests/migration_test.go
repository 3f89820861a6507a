package functests

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	"github.com/onsi/gomega/gexec"
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	migrationsv1alpha1 "github.com/hypernest/hypernest/api/migrations/v1alpha1"
)

// migrationTimeout covers a target pod's start (its image is on the node), the target's
// preparation and the copy of a 128 MiB guest and its disk overlay under TCG: ~30 s on
// an idle 2-core machine.
const migrationTimeout = 5 * time.Minute

var _ = Describe("Two nodes: live migration, drains and a node failure (virt-controller, both nodes' virt-handlers, virt-launcher)", Ordered, Label("migration"), func() {
	var virtctl string

	BeforeAll(func(ctx SpecContext) {
		if n := schedulableNodes(ctx); n < 2 {
			Skip(fmt.Sprintf("live migration needs two schedulable nodes, the cluster has %d: make cluster-up NODES=2", n))
		}
		virtctl = installWithVirtctl(ctx)
	})

	It("moves a running guest to the other node and back: its memory, uptime and address go along, and its console reconnects", func(ctx SpecContext) {
		ns := newTestNamespace()
		vm := startMigratable(ctx, alpineVMWithClaims(ns, "vm-migrating", nil))

		By("a counter the guest's shell keeps in memory, and the guest's uptime and address")
		in, console := alpineConsole(virtctl, ns, vm.Name)
		// inGuest types again until the output shows: the commands must not change what
		// they print when repeated.
		inGuest(in, console.Out, `counter=$((6*7)); echo "counter-is-$counter"`, "counter-is-42")
		upBefore := guestUptime(in, console.Out)
		inGuest(in, console.Out, `echo "addr-$(ip -4 -o addr show eth0 | awk '{print $4}')"`, `addr-10\.0\.2\.2/24`)
		before := getVMI(ctx, ns, vm.Name)
		source := before.Status.NodeName
		sourcePod := launcherPod(ctx, before)

		// The migration histograms may hold earlier migrations of this install: this one
		// must add a sample to each.
		var succeededBefore, downtimeBefore uint64
		Eventually(func(g Gomega) {
			succeededBefore = sampleCount(scrapeComponent(ctx, g, "virt-controller"), "kubevirt_vmi_migration_phase_transition_time_from_creation_seconds", map[string]string{"phase": "Succeeded"})
			downtimeBefore = sampleCount(scrapeComponent(ctx, g, "virt-handler"), "kubevirt_vmi_migration_downtime_seconds", map[string]string{"node": source})
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(2 * time.Second).Should(Succeed())

		By("virtctl migrate: the migration succeeds, the VMI runs on the other node")
		session, err := gexec.Start(exec.Command(virtctl, "-n", ns, "migrate", vm.Name), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(virtctlTimeout).Should(gexec.Exit(0))
		Expect(string(session.Out.Contents())).To(Equal("VM vm-migrating was scheduled to migrate\n"))
		var migration v1.VirtualMachineInstanceMigration
		Eventually(func(g Gomega) {
			list := &v1.VirtualMachineInstanceMigrationList{}
			g.Expect(crClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(HaveLen(1))
			migration = list.Items[0]
			g.Expect(migration.Status.Phase).NotTo(Equal(v1.MigrationFailed), "the migration failed: %s", toJSON(migration.Status))
			g.Expect(migration.Status.Phase).To(Equal(v1.MigrationSucceeded))
		}).WithContext(ctx).WithTimeout(migrationTimeout).WithPolling(2 * time.Second).Should(Succeed())
		var after *v1.VirtualMachineInstance
		Eventually(func(g Gomega) {
			after = getVMI(ctx, ns, vm.Name)
			g.Expect(after.Status.NodeName).NotTo(Equal(source))
			g.Expect(after.Labels).To(HaveKeyWithValue(v1.NodeNameLabel, after.Status.NodeName))
			g.Expect(after.Labels).NotTo(HaveKey(v1.MigrationTargetNodeNameLabel))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		Expect(after.Status.Phase).To(Equal(v1.Running))
		Expect(condition(after, v1.VirtualMachineInstanceReady)).To(Equal(k8sv1.ConditionTrue))
		ms := after.Status.MigrationState
		Expect(ms).NotTo(BeNil())
		Expect(ms.MigrationUID).To(Equal(migration.UID))
		Expect(ms.Completed).To(BeTrue())
		Expect(ms.Failed).To(BeFalse())
		Expect(ms.SourceNode).To(Equal(source))
		Expect(ms.TargetNode).To(Equal(after.Status.NodeName))
		Expect(ms.StartTimestamp).NotTo(BeNil())
		Expect(ms.EndTimestamp).NotTo(BeNil())
		Expect(ms.TargetNodeDomainReadyTimestamp).NotTo(BeNil())
		Expect(ms.TargetNodeDomainDetected).To(BeTrue())
		Expect(ms.Mode).To(Equal(v1.MigrationPreCopy))
		Expect(ms.TargetDirectMigrationNodePorts).To(HaveLen(3))
		Expect(after.Status.MigrationMethod).To(Equal(v1.BlockMigration), "the containerDisk's overlay is local to the pod: copied along")
		Expect(after.Status.MigrationTransport).To(Equal(v1.MigrationTransportUnix))
		took := ms.EndTimestamp.Sub(ms.StartTimestamp.Time)
		fmt.Fprintf(GinkgoWriter, "migration of the demo guest: %s from the first byte to the end\n", took)
		AddReportEntry("live migration time", took.String())

		By("the migration in the metrics: its outcome and times from virt-controller, the guest's pause at the switch-over from the source node's virt-handler")
		Eventually(func(g Gomega) {
			controller := scrapeComponent(ctx, g, "virt-controller")
			g.Expect(gauge(controller, "kubevirt_vmi_migration_succeeded", map[string]string{"vmi": vm.Name, "vmim": migration.Name, "namespace": ns})).To(Equal(1.0))
			g.Expect(gauge(controller, "kubevirt_vmi_migration_end_time_seconds", map[string]string{
				"node": after.Status.NodeName, "namespace": ns, "name": vm.Name, "migration_name": migration.Name, "status": "succeeded",
			})).To(Equal(float64(ms.EndTimestamp.Unix())))
			g.Expect(sampleCount(controller, "kubevirt_vmi_migration_phase_transition_time_from_creation_seconds", map[string]string{"phase": "Succeeded"})).
				To(Equal(succeededBefore+1), "one more migration reached Succeeded")
			g.Expect(sampleCount(scrapeComponent(ctx, g, "virt-handler"), "kubevirt_vmi_migration_downtime_seconds", map[string]string{"node": source})).
				To(Equal(downtimeBefore+1), "one more switch-over paused a guest on the source node")
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(2 * time.Second).Should(Succeed())

		By("the source pod ended, the target pod runs the guest, and the VMI reports the target pod's address")
		Eventually(func(g Gomega) {
			p := &k8sv1.Pod{}
			g.Expect(crClient.Get(ctx, client.ObjectKeyFromObject(sourcePod), p)).To(Succeed())
			g.Expect(p.Status.Phase).To(Equal(k8sv1.PodSucceeded))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
		target := &k8sv1.Pod{}
		Expect(crClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: ms.TargetPod}, target)).To(Succeed())
		Expect(target.Spec.NodeName).To(Equal(after.Status.NodeName))
		Expect(after.Status.Interfaces).To(HaveLen(1))
		Expect(after.Status.Interfaces[0].IP).To(Equal(podIP(ctx, target)))

		By("a new console reaches the same shell: the counter is there, the uptime went on, the guest's address stayed")
		console.Kill()
		in, out := reconnectConsole(virtctl, ns, vm.Name)
		inGuest(in, out, `echo "counter-is-$counter"`, "counter-is-42")
		Expect(guestUptime(in, out)).To(BeNumerically(">=", upBefore), "the guest did not reboot")
		inGuest(in, out, `echo "addr-$(ip -4 -o addr show eth0 | awk '{print $4}')"`, `addr-10\.0\.2\.2/24`)

		By("migrating it back: the launcher that received the guest sends it on, and the open console follows")
		session, err = gexec.Start(exec.Command(virtctl, "-n", ns, "migrate", vm.Name), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(virtctlTimeout).Should(gexec.Exit(0))
		Eventually(func(g Gomega) {
			back := getVMI(ctx, ns, vm.Name)
			g.Expect(back.Status.MigrationState).NotTo(BeNil())
			g.Expect(back.Status.MigrationState.MigrationUID).NotTo(Equal(migration.UID))
			g.Expect(back.Status.MigrationState.Failed).To(BeFalse(), "the second migration failed: %s", back.Status.MigrationState.FailureReason)
			g.Expect(back.Status.NodeName).To(Equal(source))
			g.Expect(back.Status.Phase).To(Equal(v1.Running))
		}).WithContext(ctx).WithTimeout(migrationTimeout).WithPolling(2 * time.Second).Should(Succeed())
		// The open virtctl console reconnects by itself, now through the other node.
		inGuest(in, out, `echo "counter-is-$counter"`, "counter-is-42")
	})

	It("cancels a migration half-way, slowed by a MigrationPolicy: the guest goes on running on the source node", func(ctx SpecContext) {
		ns := newTestNamespace()
		By("a MigrationPolicy caps this namespace's migrations of VMIs labelled lane=slow at 1 MiB/s: a 128 MiB guest takes minutes")
		policy := &migrationsv1alpha1.MigrationPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: ns + "-slow-lane"},
			Spec: migrationsv1alpha1.MigrationPolicySpec{
				Selectors: &migrationsv1alpha1.Selectors{
					NamespaceSelector:              migrationsv1alpha1.LabelSelector{k8sv1.LabelMetadataName: ns},
					VirtualMachineInstanceSelector: migrationsv1alpha1.LabelSelector{"lane": "slow"},
				},
				BandwidthPerMigration: ptr.To(resource.MustParse("1Mi")),
			},
		}
		Expect(crClient.Create(ctx, policy)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(crClient.Delete(ctx, policy)).To(Succeed()) })
		slow := alpineVMWithClaims(ns, "vm-stays", nil)
		slow.Spec.Template.ObjectMeta.Labels = map[string]string{"lane": "slow"}
		vm := startMigratable(ctx, slow)
		source := getVMI(ctx, ns, vm.Name).Status.NodeName

		By("virtctl migrate, then virtctl migrate-cancel once the guest's memory is on its way")
		virtctlOK := func(want string, args ...string) {
			session, err := gexec.Start(exec.Command(virtctl, append([]string{"-n", ns}, args...)...), GinkgoWriter, GinkgoWriter)
			Expect(err).NotTo(HaveOccurred())
			Eventually(session).WithTimeout(virtctlTimeout).Should(gexec.Exit(0), "virtctl %v", args)
			Expect(string(session.Out.Contents())).To(Equal(want))
		}
		virtctlOK("VM vm-stays was scheduled to migrate\n", "migrate", vm.Name)
		Eventually(func(g Gomega) {
			list := &v1.VirtualMachineInstanceMigrationList{}
			g.Expect(crClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(HaveLen(1))
			g.Expect(list.Items[0].Status.Phase).To(Equal(v1.MigrationRunning))
		}).WithContext(ctx).WithTimeout(migrationTimeout).WithPolling(time.Second).Should(Succeed())
		By("while it runs, the source node's virt-handler serves the job's figures and virt-controller counts it running")
		Eventually(func(g Gomega) {
			handlers := scrapeComponent(ctx, g, "virt-handler")
			job := map[string]string{"node": source, "namespace": ns, "name": vm.Name}
			g.Expect(gauge(handlers, "kubevirt_vmi_migration_data_processed_bytes", job)).To(BeNumerically(">", 0))
			g.Expect(gauge(handlers, "kubevirt_vmi_migration_data_remaining_bytes", job)).To(BeNumerically(">", 0))
			g.Expect(gauge(handlers, "kubevirt_vmi_migration_memory_transfer_rate_bytes", job)).To(And(BeNumerically(">=", 0), BeNumerically("<=", 4<<20)), "capped at 1 MiB/s")
			g.Expect(total(scrapeComponent(ctx, g, "virt-controller"), "kubevirt_vmi_migrations_in_running_phase", nil)).To(BeNumerically(">=", 1))
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(2 * time.Second).Should(Succeed())
		virtctlOK("VM vm-stays was scheduled to migrate-cancel\n", "migrate-cancel", vm.Name)

		By("the migration is aborted and released; the VMI runs where it was, and its target pod goes")
		Eventually(func(g Gomega) {
			list := &v1.VirtualMachineInstanceMigrationList{}
			g.Expect(crClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(BeEmpty())
		}).WithContext(ctx).WithTimeout(migrationTimeout).Should(Succeed())
		Eventually(func(g Gomega) {
			vmi := getVMI(ctx, ns, vm.Name)
			g.Expect(targetPodCount(g, ctx, ns, vmi)).To(BeZero())
		}).WithContext(ctx).WithTimeout(2 * time.Minute).Should(Succeed())
		vmi := getVMI(ctx, ns, vm.Name)
		Expect(vmi.Status.Phase).To(Equal(v1.Running))
		Expect(vmi.Status.NodeName).To(Equal(source))
		Expect(vmi.Labels).To(HaveKeyWithValue(v1.NodeNameLabel, source))
		Expect(condition(vmi, v1.VirtualMachineInstanceReady)).To(Equal(k8sv1.ConditionTrue))
		ms := vmi.Status.MigrationState
		Expect(ms).NotTo(BeNil())
		Expect(ms.MigrationPolicyName).To(HaveValue(Equal(policy.Name)))
		Expect(ms.MigrationConfiguration.BandwidthPerMigration.String()).To(Equal("1Mi"))
		Expect(ms.AbortRequested).To(BeTrue())
		Expect(ms.AbortStatus).To(Equal(v1.MigrationAbortSucceeded))
		Expect(ms.Failed).To(BeTrue())
		Expect(ms.Completed).To(BeTrue(), "ended")
		// The source pod runs the guest still (the target pod, deleted, may not be gone yet).
		sourcePod := &k8sv1.Pod{}
		Expect(crClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: ms.SourcePod}, sourcePod)).To(Succeed())
		Expect(sourcePod.Spec.NodeName).To(Equal(source))
		Expect(sourcePod.Status.Phase).To(Equal(k8sv1.PodRunning))

		By("the guest still answers on its console")
		in, out := alpineRootShell(virtctl, ns, vm.Name)
		inGuest(in, out, `echo "still-$((40+2))"`, "still-42")
	})

	It("kubectl drain moves a LiveMigrate VM to the other node, and waits on one that cannot migrate", func(ctx SpecContext) {
		ns := newTestNamespace()
		movable := alpineVMWithClaims(ns, "vm-movable", nil)
		movable.Spec.Template.Spec.EvictionStrategy = ptr.To(v1.EvictionStrategyLiveMigrate)
		// Bridged to the pod network, the guest would need the pod's address on the other
		// node: not live-migratable (KubeVirt's InterfaceNotLiveMigratable).
		fixed := alpineVMWithClaims(ns, "vm-fixed", nil)
		fixed.Spec.Template.Spec.EvictionStrategy = ptr.To(v1.EvictionStrategyLiveMigrate)
		fixed.Spec.Template.Spec.Domain.Devices.Interfaces = []v1.Interface{{Name: "default", InterfaceBindingMethod: v1.InterfaceBindingMethod{Bridge: &v1.InterfaceBridge{}}}}
		fixed.Spec.Template.Spec.Networks = []v1.Network{{Name: "default", NetworkSource: v1.NetworkSource{Pod: &v1.PodNetwork{}}}}
		Expect(crClient.Create(ctx, movable)).To(Succeed())
		Expect(crClient.Create(ctx, fixed)).To(Succeed())
		waitForVMStatus(ctx, ns, movable.Name, v1.VirtualMachineStatusRunning)
		waitForVMStatus(ctx, ns, fixed.Name, v1.VirtualMachineStatusRunning)
		Eventually(func(g Gomega) {
			g.Expect(condition(getVMI(ctx, ns, movable.Name), v1.VirtualMachineInstanceIsMigratable)).To(Equal(k8sv1.ConditionTrue))
			notMigratable := v1.VMICondition(&getVMI(ctx, ns, fixed.Name).Status, v1.VirtualMachineInstanceIsMigratable)
			g.Expect(notMigratable).NotTo(BeNil())
			g.Expect(notMigratable.Status).To(Equal(k8sv1.ConditionFalse))
			g.Expect(notMigratable.Reason).To(Equal("InterfaceNotLiveMigratable"))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())

		By("draining the movable VM's node: the eviction becomes a migration, and the drain ends once the guest left")
		vmi := getVMI(ctx, ns, movable.Name)
		node := vmi.Status.NodeName
		start := time.Now()
		code, out := drain(ctx, node, vmi, migrationTimeout)
		Expect(code).To(BeZero(), "kubectl drain: %s", out)
		fmt.Fprintf(GinkgoWriter, "kubectl drain of the node of one LiveMigrate VM: %s\n", time.Since(start).Round(time.Second))
		moved := getVMI(ctx, ns, movable.Name)
		Expect(moved.Status.Phase).To(Equal(v1.Running))
		Expect(moved.Status.NodeName).NotTo(Equal(node))
		Expect(moved.Status.EvacuationNodeName).To(BeEmpty())
		Expect(moved.UID).To(Equal(vmi.UID), "the same VMI moved: nothing was restarted")
		migrations := &v1.VirtualMachineInstanceMigrationList{}
		Expect(crClient.List(ctx, migrations, client.InNamespace(ns), client.MatchingLabels{v1.MigrationSelectorLabel: movable.Name})).To(Succeed())
		Expect(migrations.Items).To(ContainElement(And(
			HaveField("ObjectMeta.Annotations", HaveKeyWithValue("kubevirt.io/evacuationMigration", node)),
			HaveField("Status.Phase", v1.MigrationSucceeded))))

		By("draining the other VM's node: each eviction is refused with KubeVirt's message, the drain times out and the guest stays")
		stuck := getVMI(ctx, ns, fixed.Name)
		code, out = drain(ctx, stuck.Status.NodeName, stuck, 20*time.Second)
		Expect(code).NotTo(BeZero())
		Expect(out).To(ContainSubstring("VMI vm-fixed is configured with an eviction strategy but is not live-migratable"))
		after := getVMI(ctx, ns, fixed.Name)
		Expect(after.Status.Phase).To(Equal(v1.Running))
		Expect(after.Status.NodeName).To(Equal(stuck.Status.NodeName))
		Expect(launcherPod(ctx, after).Status.Phase).To(Equal(k8sv1.PodRunning))
	})

	// Last: the node it takes away does not come back in this run.
	It("brings a failed node's runStrategy Always VM back on the other node and fails its lone VMI, after the node is declared out of service", Label("node-failure"), func(ctx SpecContext) {
		powerOff := os.Getenv("HYPERNEST_NODE_POWER_OFF")
		if powerOff == "" {
			Skip("the node failure test powers a node off: set HYPERNEST_NODE_POWER_OFF to a command that does so for the node named by its argument (make functest sets hack/cluster/node-down.sh on the local cluster)")
		}
		nodes := schedulableNodeNames(ctx)
		// The last by name: on the local cluster a node make functest added, never the
		// first one, which holds the control plane and Hypernest's own pods.
		failing, survivor := nodes[len(nodes)-1], nodes[0]
		ns := newTestNamespace()

		By("a VM (runStrategy Always) and a VMI without a VM run on " + failing + " (" + survivor + " cordoned while they start)")
		setUnschedulable(ctx, survivor, true)
		vm := alpineVMWithClaims(ns, "vm-always", nil)
		lone := &v1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Name: "vmi-lone", Namespace: ns}, Spec: *vm.Spec.Template.Spec.DeepCopy()}
		Expect(crClient.Create(ctx, vm)).To(Succeed())
		Expect(crClient.Create(ctx, lone)).To(Succeed())
		waitForVMStatus(ctx, ns, vm.Name, v1.VirtualMachineStatusRunning)
		before := waitForVMIPhase(ctx, ns, vm.Name, v1.Running)
		Expect(before.Status.NodeName).To(Equal(failing))
		Expect(waitForVMIPhase(ctx, ns, lone.Name, v1.Running).Status.NodeName).To(Equal(failing))
		setUnschedulable(ctx, survivor, false)

		By(failing + " fails: its network, kubelet, virt-handler and guests go at once (" + powerOff + ")")
		start := time.Now()
		out, err := exec.CommandContext(ctx, powerOff, failing).CombinedOutput()
		GinkgoWriter.Printf("%s", out)
		Expect(err).NotTo(HaveOccurred(), "%s %s: %s", powerOff, failing, out)
		DeferCleanup(func(ctx SpecContext) {
			// A failed machine's Node object is removed (node-up.sh registers it afresh).
			Expect(client.IgnoreNotFound(crClient.Delete(ctx, &k8sv1.Node{ObjectMeta: metav1.ObjectMeta{Name: failing}}))).To(Succeed())
		})

		By("the node goes NotReady; while it may only have lost touch, its guests may still run, and nothing starts them again")
		Eventually(func(g Gomega) {
			node := &k8sv1.Node{}
			g.Expect(crClient.Get(ctx, client.ObjectKey{Name: failing}, node)).To(Succeed())
			g.Expect(nodeReady(node)).To(BeFalse())
		}).WithContext(ctx).WithTimeout(3 * time.Minute).WithPolling(2 * time.Second).Should(Succeed())
		notReady := time.Since(start)
		for _, name := range []string{vm.Name, lone.Name} {
			vmi := getVMI(ctx, ns, name)
			Expect(vmi.Status.Phase).To(Equal(v1.Running), "VMI %s", name)
			Expect(vmi.Status.NodeName).To(Equal(failing), "VMI %s", name)
		}
		Expect(getVMI(ctx, ns, vm.Name).UID).To(Equal(before.UID))

		By("declared out of service (Kubernetes' non-graceful node shutdown): its pods go, the VM runs again on " + survivor + ", the lone VMI fails")
		node := &k8sv1.Node{}
		Expect(crClient.Get(ctx, client.ObjectKey{Name: failing}, node)).To(Succeed())
		patch := client.MergeFrom(node.DeepCopy())
		node.Spec.Taints = append(node.Spec.Taints, k8sv1.Taint{Key: k8sv1.TaintNodeOutOfService, Value: "nodeshutdown", Effect: k8sv1.TaintEffectNoExecute})
		Expect(crClient.Patch(ctx, node, patch)).To(Succeed())
		Eventually(func(g Gomega) {
			vmi := &v1.VirtualMachineInstance{}
			g.Expect(crClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: vm.Name}, vmi)).To(Succeed())
			g.Expect(vmi.UID).NotTo(Equal(before.UID), "the VM's VMI is still the one of the failed node")
			g.Expect(vmi.Status.Phase).To(Equal(v1.Running))
			g.Expect(vmi.Status.NodeName).To(Equal(survivor))
			failed := &v1.VirtualMachineInstance{}
			g.Expect(crClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: lone.Name}, failed)).To(Succeed())
			g.Expect(failed.Status.Phase).To(Equal(v1.Failed))
		}).WithContext(ctx).WithTimeout(5 * time.Minute).WithPolling(2 * time.Second).Should(Succeed())
		back := time.Since(start)

		By("no guest runs twice: one launcher pod is left in the namespace, the new VMI's, on " + survivor)
		pods := &k8sv1.PodList{}
		Expect(crClient.List(ctx, pods, client.InNamespace(ns))).To(Succeed())
		Expect(pods.Items).To(ConsistOf(And(
			HaveField("ObjectMeta.Labels", HaveKeyWithValue(v1.CreatedByLabel, string(getVMI(ctx, ns, vm.Name).UID))),
			HaveField("Spec.NodeName", survivor))))

		By("virt-controller reads virt-handler's heartbeat: once its last beat is 5 minutes old, the node takes no VMIs (kubevirt.io/schedulable=false)")
		Eventually(func(g Gomega) {
			g.Expect(crClient.Get(ctx, client.ObjectKey{Name: failing}, node)).To(Succeed())
			g.Expect(node.Labels).To(HaveKeyWithValue(v1.NodeSchedulable, "false"))
		}).WithContext(ctx).WithTimeout(7 * time.Minute).WithPolling(5 * time.Second).Should(Succeed())
		fmt.Fprintf(GinkgoWriter, "node failure: NotReady after %s, the VM running again on %s after %s, the heartbeat stale after %s\n",
			notReady.Round(time.Second), survivor, back.Round(time.Second), time.Since(start).Round(time.Second))
	})
})

// startMigratable creates the VM and waits until its guest runs and is live-migratable.
func startMigratable(ctx context.Context, vm *v1.VirtualMachine) *v1.VirtualMachine {
	Expect(crClient.Create(ctx, vm)).To(Succeed())
	waitForVMStatus(ctx, vm.Namespace, vm.Name, v1.VirtualMachineStatusRunning)
	Eventually(func(g Gomega) {
		g.Expect(condition(getVMI(ctx, vm.Namespace, vm.Name), v1.VirtualMachineInstanceIsMigratable)).To(Equal(k8sv1.ConditionTrue))
	}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed())
	return vm
}

// drain runs kubectl drain on node for the launcher pod of vmi only (the other pods of
// the node are not the test's), with the flags a drain of a KubeVirt node takes, and
// returns its exit code and output. The node is uncordoned when the spec ends.
func drain(ctx context.Context, node string, vmi *v1.VirtualMachineInstance, timeout time.Duration) (int, string) {
	kubectl := envOr("HYPERNEST_KUBECTL", "kubectl")
	DeferCleanup(func() {
		Expect(exec.Command(kubectl, "uncordon", node).Run()).To(Succeed(), "kubectl uncordon %s", node)
	})
	cmd := exec.CommandContext(ctx, kubectl, "drain", node, "--ignore-daemonsets", "--delete-emptydir-data",
		"--pod-selector="+v1.CreatedByLabel+"="+string(vmi.UID), fmt.Sprintf("--timeout=%ds", int(timeout.Seconds())))
	out := gbytes.NewBuffer()
	session, err := gexec.Start(cmd, io.MultiWriter(out, GinkgoWriter), io.MultiWriter(out, GinkgoWriter))
	Expect(err).NotTo(HaveOccurred())
	Eventually(session).WithTimeout(timeout + time.Minute).Should(gexec.Exit())
	return session.ExitCode(), string(out.Contents())
}

// schedulableNodes counts the Ready nodes pods may be scheduled to.
func schedulableNodes(ctx context.Context) int {
	return len(schedulableNodeNames(ctx))
}

// schedulableNodeNames names the Ready nodes pods may be scheduled to, sorted.
func schedulableNodeNames(ctx context.Context) []string {
	nodes := &k8sv1.NodeList{}
	Expect(crClient.List(ctx, nodes)).To(Succeed())
	var names []string
	for _, node := range nodes.Items {
		if nodeReady(&node) && !node.Spec.Unschedulable {
			names = append(names, node.Name)
		}
	}
	slices.Sort(names)
	return names
}

func nodeReady(node *k8sv1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == k8sv1.NodeReady {
			return c.Status == k8sv1.ConditionTrue
		}
	}
	return false
}

// setUnschedulable cordons or uncordons the node, as kubectl cordon does; a cordoned node
// is uncordoned when the spec ends.
func setUnschedulable(ctx context.Context, name string, unschedulable bool) {
	node := &k8sv1.Node{}
	Expect(crClient.Get(ctx, client.ObjectKey{Name: name}, node)).To(Succeed())
	patch := client.MergeFrom(node.DeepCopy())
	node.Spec.Unschedulable = unschedulable
	Expect(crClient.Patch(ctx, node, patch)).To(Succeed())
	if unschedulable {
		DeferCleanup(setUnschedulable, name, false)
	}
}

// guestUptime reads the guest's uptime in whole seconds on its shell.
func guestUptime(in io.Writer, out *gbytes.Buffer) int {
	inGuest(in, out, `echo "uptime-is-$(cut -d. -f1 /proc/uptime)-s"`, `uptime-is-\d+-s`)
	m := regexp.MustCompile(`uptime-is-(\d+)-s`).FindAllStringSubmatch(string(out.Contents()), -1)
	Expect(m).NotTo(BeEmpty())
	up, err := strconv.Atoi(m[len(m)-1][1])
	Expect(err).NotTo(HaveOccurred())
	return up
}

// reconnectConsole opens the serial console of a guest whose root shell is logged in
// already, and waits for its prompt.
func reconnectConsole(virtctl, ns, name string) (io.Writer, *gbytes.Buffer) {
	in, session := consoleShowing(virtctl, ns, name, `localhost:~# `)
	return in, session.Out
}

// consoleShowing opens the guest's serial console and presses Enter until it shows
// prompt (a booting guest gets there in its own time).
func consoleShowing(virtctl, ns, name, prompt string) (io.Writer, *gexec.Session) {
	console := exec.Command(virtctl, "-n", ns, "console", name)
	in, err := console.StdinPipe()
	Expect(err).NotTo(HaveOccurred())
	session, err := gexec.Start(console, GinkgoWriter, GinkgoWriter)
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(session.Kill)
	Eventually(func() *gbytes.Buffer {
		_, _ = io.WriteString(in, "\n")
		return session.Out
	}).WithTimeout(vmiTimeout).WithPolling(2 * time.Second).Should(gbytes.Say(prompt))
	return in, session
}

// targetPodCount counts the VMI's migration target pods that are not being deleted.
func targetPodCount(g Gomega, ctx context.Context, ns string, vmi *v1.VirtualMachineInstance) int {
	pods := &k8sv1.PodList{}
	g.Expect(crClient.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{v1.CreatedByLabel: string(vmi.UID)}, client.HasLabels{v1.MigrationJobLabel})).To(Succeed())
	n := 0
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil {
			n++
		}
	}
	return n
}
