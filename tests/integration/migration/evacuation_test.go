package migration_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/components/virt-controller/evacuation"
)

// markForEvacuation writes what virt-handler and virt-api's eviction webhook would: the
// VMI can live-migrate, has the eviction strategy, and its node is being drained.
func markForEvacuation(vmi *kubevirtv1.VirtualMachineInstance, strategy kubevirtv1.EvictionStrategy, migratable bool) {
	ctx := context.Background()
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vmi), vmi)).To(Succeed())
	vmi.Spec.EvictionStrategy = ptr.To(strategy)
	Expect(k8sClient.Update(ctx, vmi)).To(Succeed())
	status := corev1.ConditionTrue
	if !migratable {
		status = corev1.ConditionFalse
	}
	kubevirtv1.SetVMICondition(&vmi.Status, kubevirtv1.VirtualMachineInstanceIsMigratable, status, "", "")
	vmi.Status.EvacuationNodeName = vmi.Status.NodeName
	Expect(k8sClient.Status().Update(ctx, vmi)).To(Succeed())
}

// evacuations lists the VMI's migrations that the evacuation controller made.
func evacuations(g Gomega, vmi *kubevirtv1.VirtualMachineInstance) []kubevirtv1.VirtualMachineInstanceMigration {
	list := &kubevirtv1.VirtualMachineInstanceMigrationList{}
	g.Expect(k8sClient.List(context.Background(), list, client.InNamespace(vmi.Namespace), client.MatchingLabels{kubevirtv1.MigrationSelectorLabel: vmi.Name})).To(Succeed())
	var out []kubevirtv1.VirtualMachineInstanceMigration
	for _, m := range list.Items {
		if m.Annotations[evacuation.EvacuationMigrationAnnotation] != "" {
			out = append(out, m)
		}
	}
	return out
}

// onlyEvacuation waits for the VMI's one evacuation migration.
func onlyEvacuation(vmi *kubevirtv1.VirtualMachineInstance) kubevirtv1.VirtualMachineInstanceMigration {
	var m kubevirtv1.VirtualMachineInstanceMigration
	Eventually(func(g Gomega) {
		ms := evacuations(g, vmi)
		g.Expect(ms).To(HaveLen(1))
		m = ms[0]
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	return m
}

var _ = Describe("Evacuation (kubectl drain of a node with VMIs to live-migrate)", func() {
	var ns string
	BeforeEach(func() {
		ns = newNamespace()
		for _, n := range []string{sourceNode, targetNode} {
			ensureNode(n)
		}
	})

	It("migrates a VMI marked for evacuation off its node, once, and again after a failed attempt", func() {
		vmi, _ := runningVMI(ns, "drained", sourceNode)
		markForEvacuation(vmi, kubevirtv1.EvictionStrategyLiveMigrate, true)
		DeferCleanup(func() {
			// The VMI goes, and its migration with it: none holds a place other specs'
			// migrations off node-a need.
			Expect(k8sClient.Delete(context.Background(), vmi)).To(Succeed())
			Eventually(func(g Gomega) {
				for _, m := range evacuations(g, vmi) {
					g.Expect(m.Status.Phase.IsFinal()).To(BeTrue(), "%s is %s", m.Name, m.Status.Phase)
				}
			}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		})
		first := onlyEvacuation(vmi)
		Expect(first.Name).To(HavePrefix("kubevirt-evacuation-"))
		Expect(first.Annotations).To(HaveKeyWithValue(evacuation.EvacuationMigrationAnnotation, sourceNode))
		Expect(first.Spec.VMIName).To(Equal(vmi.Name))
		Consistently(func(g Gomega) { g.Expect(evacuations(g, vmi)).To(HaveLen(1)) }).WithTimeout(3*time.Second).Should(Succeed(), "one migration in flight at a time")

		By("the migration fails (its target pod goes): another is made after the backoff")
		target := targetPodOf(&first)
		Expect(k8sClient.Delete(context.Background(), target)).To(Succeed())
		waitForPhase(&first, kubevirtv1.MigrationFailed)
		Eventually(func(g Gomega) { g.Expect(evacuations(g, vmi)).To(HaveLen(2)) }).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})

	It("makes no second migration while the guest that left waits for the target node to take it over", func() {
		vmi, _ := runningVMI(ns, "leaving", sourceNode)
		markForEvacuation(vmi, kubevirtv1.EvictionStrategyLiveMigrate, true)
		first := onlyEvacuation(vmi)
		DeferCleanup(func() {
			Expect(k8sClient.Delete(context.Background(), vmi)).To(Succeed())
		})
		By("the handlers report the guest moved; the target node has not taken the VMI over yet")
		bindAndRun(targetPodOf(&first), targetNode)
		Eventually(func(g Gomega) {
			got := &kubevirtv1.VirtualMachineInstance{}
			g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(vmi), got)).To(Succeed())
			g.Expect(got.Status.MigrationState).NotTo(BeNil())
			g.Expect(got.Status.MigrationState.MigrationUID).To(Equal(first.UID))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		reportState(vmi, func(ms *kubevirtv1.VirtualMachineInstanceMigrationState) {
			now := metav1.Now()
			ms.TargetNodeAddress, ms.StartTimestamp = "10.0.0.2", &now
		})
		reportState(vmi, func(ms *kubevirtv1.VirtualMachineInstanceMigrationState) {
			now := metav1.Now()
			ms.Completed, ms.EndTimestamp = true, &now
		})
		waitForPhase(&first, kubevirtv1.MigrationSucceeded)
		Consistently(func(g Gomega) { g.Expect(evacuations(g, vmi)).To(HaveLen(1)) }).WithTimeout(3*time.Second).Should(Succeed(), "no second evacuation of a guest that left")
	})

	It("leaves VMIs alone whose strategy is External or that cannot migrate", func() {
		external, _ := runningVMI(ns, "external", sourceNode)
		markForEvacuation(external, kubevirtv1.EvictionStrategyExternal, true)
		fixed, _ := runningVMI(ns, "fixed", sourceNode)
		markForEvacuation(fixed, kubevirtv1.EvictionStrategyLiveMigrate, false)
		Consistently(func(g Gomega) {
			g.Expect(evacuations(g, external)).To(BeEmpty(), "External: Cluster API's provider moves it")
			g.Expect(evacuations(g, fixed)).To(BeEmpty(), "not live-migratable")
		}).WithTimeout(5 * time.Second).Should(Succeed())
	})
})
