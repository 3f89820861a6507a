package migration_test

import (
	"context"
	"fmt"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	migrationsv1alpha1 "github.com/hypernest/hypernest/api/migrations/v1alpha1"
)

const (
	sourceNode = "node-a"
	targetNode = "node-b"
)

// runningVMI creates a VMI and writes what virt-controller and virt-handler would for a
// guest running on node: its status, and its launcher pod bound there and running.
func runningVMI(ns, name, node string) (*kubevirtv1.VirtualMachineInstance, *corev1.Pod) {
	ctx := context.Background()
	vmi := &kubevirtv1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{kubevirtv1.NodeNameLabel: node}},
		Spec: kubevirtv1.VirtualMachineInstanceSpec{Domain: kubevirtv1.DomainSpec{
			Memory:  &kubevirtv1.Memory{Guest: ptr.To(resource.MustParse("128Mi"))},
			Devices: kubevirtv1.Devices{},
		}},
	}
	Expect(k8sClient.Create(ctx, vmi)).To(Succeed())

	// The pod first: a Running VMI without one, on a node without a live handler, is
	// what the node controller fails.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, GenerateName: "virt-launcher-" + name + "-", Labels: map[string]string{
			kubevirtv1.AppLabel: launcherv1.AppLabelValue, kubevirtv1.CreatedByLabel: string(vmi.UID),
		}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: launcherv1.ComputeContainerName, Image: "localhost/hypernest/virt-launcher:test"}}},
	}
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	markRunning(pod)
	vmi.Status.Phase = kubevirtv1.Running
	vmi.Status.NodeName = node
	Expect(k8sClient.Status().Update(ctx, vmi)).To(Succeed())
	return vmi, pod
}

// ensureNode creates a node without a heartbeat: to the node controller, one where
// nothing of Hypernest's ever ran, so it leaves it alone.
func ensureNode(name string) {
	err := k8sClient.Create(context.Background(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}})
	Expect(err == nil || apierrors.IsAlreadyExists(err)).To(BeTrue(), "creating node %s: %v", name, err)
}

// markRunning writes what the kubelet would for a pod whose compute container started.
func markRunning(pod *corev1.Pod) {
	pod.Status.Phase = corev1.PodRunning
	pod.Status.ContainerStatuses = []corev1.ContainerStatus{{
		Name: launcherv1.ComputeContainerName, Image: pod.Spec.Containers[0].Image, ImageID: "sha256:0",
		State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}},
	}}
	Expect(k8sClient.Status().Update(context.Background(), pod)).To(Succeed())
}

// bindAndRun writes what the scheduler and the kubelet would: the pod bound to node,
// running.
func bindAndRun(pod *corev1.Pod, node string) {
	ctx := context.Background()
	binding := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name}, Target: corev1.ObjectReference{Kind: "Node", Name: node}}
	Expect(k8sClient.SubResource("binding").Create(ctx, pod, binding)).To(Succeed())
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), pod)).To(Succeed())
	markRunning(pod)
}

func newMigration(ns, name, vmiName string) *kubevirtv1.VirtualMachineInstanceMigration {
	vmim := &kubevirtv1.VirtualMachineInstanceMigration{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       kubevirtv1.VirtualMachineInstanceMigrationSpec{VMIName: vmiName},
	}
	Expect(k8sClient.Create(context.Background(), vmim)).To(Succeed())
	return vmim
}

// targetPodOf waits for the migration's target pod and returns it.
func targetPodOf(vmim *kubevirtv1.VirtualMachineInstanceMigration) *corev1.Pod {
	var pod *corev1.Pod
	Eventually(func(g Gomega) {
		list := &corev1.PodList{}
		g.Expect(k8sClient.List(context.Background(), list, client.InNamespace(vmim.Namespace), client.MatchingLabels{kubevirtv1.MigrationJobLabel: string(vmim.UID)})).To(Succeed())
		g.Expect(list.Items).To(HaveLen(1))
		pod = &list.Items[0]
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	return pod
}

func phaseOf(g Gomega, vmim *kubevirtv1.VirtualMachineInstanceMigration) kubevirtv1.VirtualMachineInstanceMigrationPhase {
	got := &kubevirtv1.VirtualMachineInstanceMigration{}
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(vmim), got)).To(Succeed())
	return got.Status.Phase
}

func waitForPhase(vmim *kubevirtv1.VirtualMachineInstanceMigration, phase kubevirtv1.VirtualMachineInstanceMigrationPhase) {
	Eventually(func(g Gomega) {
		g.Expect(phaseOf(g, vmim)).To(Equal(phase))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

// reportState writes, as the virt-handlers would, into the VMI's migrationState.
func reportState(vmi *kubevirtv1.VirtualMachineInstance, change func(*kubevirtv1.VirtualMachineInstanceMigrationState)) {
	Eventually(func(g Gomega) {
		got := &kubevirtv1.VirtualMachineInstance{}
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(vmi), got)).To(Succeed())
		g.Expect(got.Status.MigrationState).NotTo(BeNil())
		change(got.Status.MigrationState)
		g.Expect(k8sClient.Status().Update(context.Background(), got)).To(Succeed())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

// migrateOff starts n running VMIs on node and a migration of each (prefix-move-i).
func migrateOff(ns, node, prefix string, n int) []*kubevirtv1.VirtualMachineInstanceMigration {
	var migrations []*kubevirtv1.VirtualMachineInstanceMigration
	for i := range n {
		vmi, _ := runningVMI(ns, fmt.Sprintf("%s-%d", prefix, i), node)
		migrations = append(migrations, newMigration(ns, fmt.Sprintf("%s-move-%d", prefix, i), vmi.Name))
	}
	return migrations
}

// expectTargetPods waits for want migration target pods in ns, and checks that no
// more come: the limits hold the other migrations back.
func expectTargetPods(ns string, want int) {
	targets := func(g Gomega) int {
		list := &corev1.PodList{}
		g.Expect(k8sClient.List(context.Background(), list, client.InNamespace(ns), client.HasLabels{kubevirtv1.MigrationJobLabel})).To(Succeed())
		return len(list.Items)
	}
	Eventually(targets).WithTimeout(timeout).WithPolling(interval).Should(Equal(want))
	Consistently(targets).WithTimeout(3*interval*10).WithPolling(interval).Should(Equal(want), "target pods beyond the limits")
}

func deleteMigrations(migrations []*kubevirtv1.VirtualMachineInstanceMigration) {
	for _, m := range migrations {
		Expect(k8sClient.Delete(context.Background(), m)).To(Succeed())
		waitForGone(m)
	}
}

// outboundLimit is the per-node limit the controller reads now.
func outboundLimit() int {
	_, perNode := clusterConfig.Get(context.Background()).MigrationLimits()
	return perNode
}

func waitForGone(vmim *kubevirtv1.VirtualMachineInstanceMigration) {
	Eventually(func(g Gomega) {
		err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(vmim), &kubevirtv1.VirtualMachineInstanceMigration{})
		g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "%s still exists", vmim.Name)
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

func gone(g Gomega, obj client.Object) {
	err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(obj), obj)
	g.Expect(apierrors.IsNotFound(err) || (err == nil && obj.GetDeletionTimestamp() != nil)).To(BeTrue(), "%s still exists", obj.GetName())
}

func warningEvents(g Gomega, ns, reason string) []string {
	list := &corev1.EventList{}
	g.Expect(k8sClient.List(context.Background(), list, client.InNamespace(ns))).To(Succeed())
	var messages []string
	for _, e := range list.Items {
		if e.Reason == reason {
			messages = append(messages, e.Message)
		}
	}
	return messages
}

var _ = Describe("VirtualMachineInstanceMigration", func() {
	var ns string
	BeforeEach(func() {
		ns = newNamespace()
		for _, n := range []string{sourceNode, targetNode, "node-busy"} {
			ensureNode(n)
		}
	})

	It("creates a target pod on another node, hands off to the handlers and follows them to Succeeded", func() {
		ctx := context.Background()
		vmi, source := runningVMI(ns, "guest", sourceNode)
		vmim := newMigration(ns, "move", vmi.Name)

		By("a target pod kept off every node with a pod of the VMI")
		target := targetPodOf(vmim)
		Expect(target.Labels).To(HaveKeyWithValue(kubevirtv1.CreatedByLabel, string(vmi.UID)))
		Expect(target.Labels).NotTo(HaveKey(kubevirtv1.NodeNameLabel))
		Expect(target.Annotations).To(HaveKeyWithValue(kubevirtv1.MigrationJobNameAnnotation, "move"))
		Expect(metav1.GetControllerOf(target).UID).To(Equal(vmi.UID))
		terms := target.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
		Expect(terms).To(ContainElement(corev1.PodAffinityTerm{
			LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{kubevirtv1.CreatedByLabel: string(vmi.UID)}},
			TopologyKey:   "kubernetes.io/hostname",
		}))
		Eventually(func(g Gomega) {
			got := &kubevirtv1.VirtualMachineInstanceMigration{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vmim), got)).To(Succeed())
			g.Expect(got.Status.Phase).To(Equal(kubevirtv1.MigrationScheduling))
			g.Expect(got.Finalizers).To(ContainElement(kubevirtv1.MigrationFinalizer))
			g.Expect(got.Labels).To(HaveKeyWithValue(kubevirtv1.MigrationSelectorLabel, vmi.Name))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

		By("the target running: the VMI names the migration and is labelled with the target's node")
		bindAndRun(target, targetNode)
		waitForPhase(vmim, kubevirtv1.MigrationPreparingTarget)
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vmim), vmim)).To(Succeed())
		got := &kubevirtv1.VirtualMachineInstance{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vmi), got)).To(Succeed())
		Expect(got.Labels).To(HaveKeyWithValue(kubevirtv1.MigrationTargetNodeNameLabel, targetNode))
		Expect(got.Status.MigrationState).To(Equal(&kubevirtv1.VirtualMachineInstanceMigrationState{
			MigrationUID: vmim.UID, SourceNode: sourceNode, TargetNode: targetNode, SourcePod: source.Name, TargetPod: target.Name,
			// No KubeVirt object and no policy: KubeVirt's defaults, written out.
			MigrationConfiguration: &kubevirtv1.MigrationConfiguration{
				ParallelMigrationsPerCluster: ptr.To[uint32](5), ParallelOutboundMigrationsPerNode: ptr.To[uint32](2),
				BandwidthPerMigration: ptr.To(resource.MustParse("0")), CompletionTimeoutPerGiB: ptr.To[int64](150),
				ProgressTimeout: ptr.To[int64](150), AllowAutoConverge: ptr.To(false),
			},
		}))

		By("the handlers' reports move it on")
		reportState(vmi, func(ms *kubevirtv1.VirtualMachineInstanceMigrationState) { ms.TargetNodeAddress = "10.0.0.2" })
		waitForPhase(vmim, kubevirtv1.MigrationTargetReady)
		reportState(vmi, func(ms *kubevirtv1.VirtualMachineInstanceMigrationState) { ms.StartTimestamp = ptr.To(metav1.Now()) })
		waitForPhase(vmim, kubevirtv1.MigrationRunning)
		reportState(vmi, func(ms *kubevirtv1.VirtualMachineInstanceMigrationState) {
			ms.EndTimestamp, ms.Completed = ptr.To(metav1.Now()), true
		})
		Eventually(func(g Gomega) {
			done := &kubevirtv1.VirtualMachineInstanceMigration{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vmim), done)).To(Succeed())
			g.Expect(done.Status.Phase).To(Equal(kubevirtv1.MigrationSucceeded))
			g.Expect(done.Finalizers).NotTo(ContainElement(kubevirtv1.MigrationFinalizer))
			g.Expect(done.Status.MigrationState).NotTo(BeNil())
			g.Expect(done.Status.MigrationState.Completed).To(BeTrue())
			var phases []kubevirtv1.VirtualMachineInstanceMigrationPhase
			for _, t := range done.Status.PhaseTransitionTimestamps {
				phases = append(phases, t.Phase)
			}
			g.Expect(phases).To(Equal([]kubevirtv1.VirtualMachineInstanceMigrationPhase{
				kubevirtv1.MigrationPending, kubevirtv1.MigrationScheduling, kubevirtv1.MigrationScheduled,
				kubevirtv1.MigrationPreparingTarget, kubevirtv1.MigrationTargetReady, kubevirtv1.MigrationRunning, kubevirtv1.MigrationSucceeded,
			}))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(target), &corev1.Pod{})).To(Succeed(), "the target pod runs the guest now")
	})

	It("deletes the target pod of a migration cancelled before the hand-off", func() {
		vmi, _ := runningVMI(ns, "guest", sourceNode)
		vmim := newMigration(ns, "cancelled", vmi.Name)
		target := targetPodOf(vmim)
		waitForPhase(vmim, kubevirtv1.MigrationScheduling)
		Expect(k8sClient.Delete(context.Background(), vmim)).To(Succeed())
		Eventually(func(g Gomega) {
			gone(g, target)
			err := k8sClient.Get(context.Background(), client.ObjectKeyFromObject(vmim), &kubevirtv1.VirtualMachineInstanceMigration{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the migration is released once Failed")
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})

	It("asks the handlers to abort a migration cancelled after the hand-off, and ends it as they report", func() {
		ctx := context.Background()
		vmi, _ := runningVMI(ns, "guest", sourceNode)
		vmim := newMigration(ns, "aborted", vmi.Name)
		bindAndRun(targetPodOf(vmim), targetNode)
		waitForPhase(vmim, kubevirtv1.MigrationPreparingTarget)
		reportState(vmi, func(ms *kubevirtv1.VirtualMachineInstanceMigrationState) { ms.StartTimestamp = ptr.To(metav1.Now()) })
		Expect(k8sClient.Delete(ctx, vmim)).To(Succeed())
		Eventually(func(g Gomega) {
			got := &kubevirtv1.VirtualMachineInstance{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vmi), got)).To(Succeed())
			g.Expect(got.Status.MigrationState.AbortRequested).To(BeTrue())
			held := &kubevirtv1.VirtualMachineInstanceMigration{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vmim), held)).To(Succeed(), "held by its finalizer until the handlers report")
			g.Expect(held.Status.Conditions).To(ContainElement(HaveField("Type", kubevirtv1.VirtualMachineInstanceMigrationAbortRequested)))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		reportState(vmi, func(ms *kubevirtv1.VirtualMachineInstanceMigrationState) {
			ms.Failed, ms.Completed, ms.EndTimestamp, ms.AbortStatus = true, true, ptr.To(metav1.Now()), "Succeeded"
		})
		Eventually(func(g Gomega) {
			err := k8sClient.Get(ctx, client.ObjectKeyFromObject(vmim), &kubevirtv1.VirtualMachineInstanceMigration{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})

	It("fails a migration whose target pod goes before the guest moved, and lets the VMI migrate again", func() {
		ctx := context.Background()
		vmi, _ := runningVMI(ns, "guest", sourceNode)
		first := newMigration(ns, "first", vmi.Name)
		target := targetPodOf(first)
		bindAndRun(target, targetNode)
		waitForPhase(first, kubevirtv1.MigrationPreparingTarget)
		Expect(k8sClient.Delete(ctx, target, client.GracePeriodSeconds(0))).To(Succeed())
		waitForPhase(first, kubevirtv1.MigrationFailed)
		Eventually(func(g Gomega) {
			got := &kubevirtv1.VirtualMachineInstance{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vmi), got)).To(Succeed())
			ms := got.Status.MigrationState
			g.Expect(ms.Failed && ms.Completed).To(BeTrue())
			g.Expect(ms.FailureReason).To(Equal("Target pod is down"))
			g.Expect(warningEvents(g, ns, "FailedMigration")).To(ContainElement("Migration target pod was removed during active migration."))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

		second := newMigration(ns, "second", vmi.Name)
		targetPodOf(second)
		waitForPhase(second, kubevirtv1.MigrationScheduling)
		// Cancelled, so it does not count against other specs' migrations (the limits are
		// cluster-wide).
		Expect(k8sClient.Delete(ctx, second)).To(Succeed())
		waitForGone(second)
	})

	It("fails a migration of a VMI that does not exist", func() {
		vmim := newMigration(ns, "nowhere", "missing")
		waitForPhase(vmim, kubevirtv1.MigrationFailed)
		Eventually(func(g Gomega) {
			g.Expect(warningEvents(g, ns, "FailedMigration")).To(ContainElement("Migration failed because vmi does not exist."))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})

	It("moves at most two VMIs off one node at a time", func() {
		// A node of its own: migrations from other specs' nodes do not count here.
		migrations := migrateOff(ns, "node-busy", "move", 3)
		expectTargetPods(ns, 2)
		pending := 0
		for _, m := range migrations {
			if phaseOf(Default, m) == kubevirtv1.MigrationPending {
				pending++
			}
		}
		Expect(pending).To(Equal(1))
		deleteMigrations(migrations)
	})

	It("takes the limits from the KubeVirt object's spec.configuration.migrations", func() {
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: kubevirtNamespace}}))).To(Succeed())
		kv := &kubevirtv1.KubeVirt{ObjectMeta: metav1.ObjectMeta{Name: "kubevirt", Namespace: kubevirtNamespace},
			Spec: kubevirtv1.KubeVirtSpec{Configuration: kubevirtv1.KubeVirtConfiguration{
				MigrationConfiguration: &kubevirtv1.MigrationConfiguration{ParallelOutboundMigrationsPerNode: ptr.To[uint32](1)}}}}
		Expect(k8sClient.Create(context.Background(), kv)).To(Succeed())
		DeferCleanup(func() {
			Expect(k8sClient.Delete(context.Background(), kv)).To(Succeed())
			Eventually(outboundLimit).WithTimeout(timeout).WithPolling(interval).Should(Equal(2), "KubeVirt's default again once the object is gone")
		})
		Eventually(outboundLimit).WithTimeout(timeout).WithPolling(interval).Should(Equal(1), "the controller's cache sees the object")

		oneNode := "node-one-at-a-time"
		ensureNode(oneNode)
		migrations := migrateOff(ns, oneNode, "single", 2)
		expectTargetPods(ns, 1)
		deleteMigrations(migrations)
	})

	It("hands a migration the settings of the MigrationPolicy that selects its VMI best, over the cluster's", func() {
		ctx := context.Background()
		labelled := &corev1.Namespace{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Name: ns}, labelled)).To(Succeed())
		labelled.Labels["tier"] = "gold"
		Expect(k8sClient.Update(ctx, labelled)).To(Succeed())
		policy := func(name string, selectors migrationsv1alpha1.Selectors, bandwidth string) {
			p := &migrationsv1alpha1.MigrationPolicy{
				ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + name},
				Spec: migrationsv1alpha1.MigrationPolicySpec{Selectors: &selectors, BandwidthPerMigration: ptr.To(resource.MustParse(bandwidth)),
					AllowAutoConverge: ptr.To(true)},
			}
			Expect(k8sClient.Create(ctx, p)).To(Succeed())
			DeferCleanup(func() { Expect(k8sClient.Delete(context.Background(), p)).To(Succeed()) })
		}
		// Both select the VMI; the second matches one more label (its namespace's).
		policy("vmi-only", migrationsv1alpha1.Selectors{VirtualMachineInstanceSelector: migrationsv1alpha1.LabelSelector{"workload": "db"}}, "8Mi")
		policy("vmi-and-namespace", migrationsv1alpha1.Selectors{
			VirtualMachineInstanceSelector: migrationsv1alpha1.LabelSelector{"workload": "db"},
			NamespaceSelector:              migrationsv1alpha1.LabelSelector{"tier": "gold"},
		}, "16Mi")
		// Selects no VMI here: a label the VMI lacks.
		policy("other", migrationsv1alpha1.Selectors{VirtualMachineInstanceSelector: migrationsv1alpha1.LabelSelector{"workload": "web"}}, "1Mi")

		vmi, _ := runningVMI(ns, "db", sourceNode)
		withLabel := vmi.DeepCopy()
		withLabel.Labels["workload"] = "db"
		Expect(k8sClient.Patch(ctx, withLabel, client.MergeFrom(vmi))).To(Succeed())
		vmim := newMigration(ns, "move-db", vmi.Name)
		bindAndRun(targetPodOf(vmim), targetNode)
		waitForPhase(vmim, kubevirtv1.MigrationPreparingTarget)
		got := &kubevirtv1.VirtualMachineInstance{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vmi), got)).To(Succeed())
		ms := got.Status.MigrationState
		Expect(ms.MigrationPolicyName).To(HaveValue(Equal(ns + "-vmi-and-namespace")))
		Expect(ms.MigrationConfiguration.BandwidthPerMigration.String()).To(Equal("16Mi"))
		Expect(ms.MigrationConfiguration.AllowAutoConverge).To(HaveValue(BeTrue()))
		Expect(ms.MigrationConfiguration.CompletionTimeoutPerGiB).To(HaveValue(Equal(int64(150))), "what the policy leaves out is the cluster's")
	})

	It("keeps the five newest final migrations of a VMI", func() {
		for i := range 7 {
			vmim := newMigration(ns, fmt.Sprintf("old-%d", i), "missing")
			waitForPhase(vmim, kubevirtv1.MigrationFailed)
		}
		Eventually(func(g Gomega) {
			list := &kubevirtv1.VirtualMachineInstanceMigrationList{}
			g.Expect(k8sClient.List(context.Background(), list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(HaveLen(5))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})
})
