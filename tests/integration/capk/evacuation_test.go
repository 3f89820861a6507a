package capk_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	infrav1 "github.com/hypernest/hypernest/api/infrastructure/v1alpha1"
	"github.com/hypernest/hypernest/components/capk-manager/controllers"
)

// nestedPod is a running pod of the nested cluster on node (the test apiserver stands in
// for the nested cluster; nothing runs the pod).
func nestedPod(ctx context.Context, ns, name, node string, mutate func(*corev1.Pod)) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "localhost/nested/app:v1"}}},
	}
	if mutate != nil {
		mutate(pod)
	}
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	// Running and Ready, as its kubelet would report it: the eviction API lets a Pending
	// pod go whatever its PodDisruptionBudget says.
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	Expect(k8sClient.Status().Update(ctx, pod)).To(Succeed())
	return pod
}

// finishTermination does the nested node's kubelet's part for an evicted pod: once the
// pod is being deleted, it is removed. It fails while the pod is not being deleted.
func finishTermination(ctx context.Context, g Gomega, pod *corev1.Pod) {
	got := &corev1.Pod{}
	err := k8sClient.Get(ctx, client.ObjectKeyFromObject(pod), got)
	if apierrors.IsNotFound(err) {
		return
	}
	g.Expect(err).NotTo(HaveOccurred())
	g.Expect(got.DeletionTimestamp).NotTo(BeNil(), "pod %s evicted", pod.Name)
	g.Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, got, client.GracePeriodSeconds(0)))).To(Succeed())
}

func setNodeStatus(ctx context.Context, node *corev1.Node, bootID string) {
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
		node.Status.NodeInfo.BootID = bootID
		node.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
			LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
		g.Expect(k8sClient.Status().Update(ctx, node)).To(Succeed())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

// runningMachine is a worker machine <cluster>-md-1 of a new cluster whose nested
// cluster is reachable, its VM's eviction strategy set, and its VMI running at ip
// (virt-controller's and virt-handler's part done by hand).
func runningMachine(ctx context.Context, cluster string, strategy kubevirtv1.EvictionStrategy, ip string) (string, *infrav1.KubevirtMachine, *kubevirtv1.VirtualMachine, *kubevirtv1.VirtualMachineInstance) {
	ns := newNamespace()
	c, _ := provisionedCluster(ctx, ns, cluster)
	nestedKubeconfig(ctx, ns, cluster)
	spec := machineSpec(infrav1.BootstrapCheckNone)
	spec.VirtualMachineTemplate.Spec.Template.Spec.EvictionStrategy = ptr.To(strategy)
	_, km := newMachine(ctx, c, cluster+"-md-1", false, spec, cloudConfig)
	var vm *kubevirtv1.VirtualMachine
	Eventually(func(g Gomega) { vm = getVM(ctx, g, ns, km.Name) }).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	return ns, km, vm, runVMI(ctx, vm, ip)
}

var _ = Describe("A machine on a drained infrastructure node (evictionStrategy External, as CAPK's templates)", func() {
	It("drains its Node in the nested cluster, then deletes its VMI for the VM to start again elsewhere, and uncordons the Node once it is back", func(ctx SpecContext) {
		ns, km, vm, vmi := runningMachine(ctx, "iota", kubevirtv1.EvictionStrategyExternal, "10.244.0.12")
		Expect(vm.Spec.Template.Spec.EvictionStrategy).To(Equal(ptr.To(kubevirtv1.EvictionStrategyExternal)))

		By("the VMI cannot live-migrate: the machine's VMLiveMigratable condition says why, in the VMI's words")
		kubevirtv1.SetVMICondition(&vmi.Status, kubevirtv1.VirtualMachineInstanceIsMigratable, corev1.ConditionFalse, "DisksNotLiveMigratable",
			"cannot migrate VMI: PVC rootdisk is not shared, live migration requires that all PVCs must be shared (using ReadWriteMany access mode)")
		Expect(k8sClient.Status().Update(ctx, vmi)).To(Succeed())
		got := expectCondition(ctx, km, infrav1.VMLiveMigratableCondition, metav1.ConditionFalse, "DisksNotLiveMigratable")
		Expect(got.Status.Conditions).To(ContainElement(HaveField("Message", ContainSubstring("PVC rootdisk is not shared"))))
		expectCondition(ctx, km, infrav1.ReadyCondition, metav1.ConditionTrue, "Ready")

		By("the machine's Node in the nested cluster, with a pod, a DaemonSet's pod and a pod a PodDisruptionBudget guards")
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "iota-md-1"}}
		Expect(k8sClient.Create(ctx, node)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, node))).To(Succeed()) })
		setNodeStatus(ctx, node, "boot-1")
		web := nestedPod(ctx, ns, "web", node.Name, nil)
		agent := nestedPod(ctx, ns, "agent", node.Name, func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: "d5", Controller: ptr.To(true)}}
		})
		guarded := nestedPod(ctx, ns, "guarded", node.Name, nil)
		pdb := &policyv1.PodDisruptionBudget{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "guarded"},
			Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr.To(intstr.FromInt32(1)),
				Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "guarded"}}},
		}
		Expect(k8sClient.Create(ctx, pdb)).To(Succeed())

		By("a drain of the infrastructure node: virt-api refuses the eviction of the VMI's pod and marks the VMI (done here by hand)")
		marked := time.Now()
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vmi), vmi)).To(Succeed())
			vmi.Status.EvacuationNodeName = "infra-node-1"
			g.Expect(k8sClient.Status().Update(ctx, vmi)).To(Succeed())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

		By("the provider cordons the Node, evicts the pod, keeps the DaemonSet's pod, and keeps the VMI while the budget holds the guarded pod")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
			g.Expect(node.Spec.Unschedulable).To(BeTrue(), "cordoned")
			m := getMachine(ctx, g, km)
			deadline, err := time.Parse(time.RFC3339, m.Annotations[infrav1.VmiDeletionGraceTime])
			g.Expect(err).NotTo(HaveOccurred(), "CAPK's grace time annotation")
			g.Expect(deadline).To(BeTemporally("~", marked.Add(10*time.Minute), time.Minute))
			g.Expect(m.Annotations).To(HaveKeyWithValue(controllers.CordonedBootIDAnnotation, "boot-1"))
			finishTermination(ctx, g, web)
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(guarded), guarded)).To(Succeed())
			g.Expect(guarded.DeletionTimestamp).To(BeNil(), "the budget allows no eviction")
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(agent), agent)).To(Succeed())
			g.Expect(agent.DeletionTimestamp).To(BeNil(), "a DaemonSet's pod stays with its node")
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vmi), vmi)).To(Succeed())
			g.Expect(vmi.DeletionTimestamp).To(BeNil(), "the VMI waits for the drain")
			g.Expect(getMachine(ctx, g, km).Status.Ready).To(BeTrue(), "the guest still runs")
		}).WithTimeout(6 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("the budget goes: the guarded pod is evicted, and then the VMI is deleted and the grace time annotation removed")
		Expect(k8sClient.Delete(ctx, pdb)).To(Succeed())
		Eventually(func(g Gomega) { finishTermination(ctx, g, guarded) }).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vmi), vmi)).To(Succeed())
			g.Expect(vmi.DeletionTimestamp).NotTo(BeNil(), "VMI deleted")
			g.Expect(getMachine(ctx, g, km).Annotations).NotTo(HaveKey(infrav1.VmiDeletionGraceTime))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(agent), agent)).To(Succeed())
		Expect(agent.DeletionTimestamp).To(BeNil())

		By("the VM starts a new VMI on another node (virt-controller's part, by hand); the Node stays cordoned until its kubelet is back")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vmi), vmi)).To(Succeed())
			vmi.Finalizers = nil // the foreground deletion's, which the garbage collector would clear
			g.Expect(k8sClient.Update(ctx, vmi)).To(Succeed())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(vmi), &kubevirtv1.VirtualMachineInstance{}))).To(BeTrue())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		runVMI(ctx, vm, "10.244.1.7")
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
			g.Expect(node.Spec.Unschedulable).To(BeTrue(), "the old boot's Node status is not the guest coming back")
		}).WithTimeout(3 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())

		By("the guest's kubelet is back (a new boot ID, Ready): the provider uncordons the Node it cordoned")
		setNodeStatus(ctx, node, "boot-2")
		// The provider looks at the Node every 15 s while it waits.
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
			g.Expect(node.Spec.Unschedulable).To(BeFalse(), "uncordoned")
			g.Expect(getMachine(ctx, g, km).Annotations).NotTo(HaveKey(controllers.CordonedBootIDAnnotation))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		expectCondition(ctx, km, infrav1.ReadyCondition, metav1.ConditionTrue, "Ready")
	})

	It("leaves a LiveMigrate machine's VMI to KubeVirt's migration", func(ctx SpecContext) {
		_, km, _, vmi := runningMachine(ctx, "kappa", kubevirtv1.EvictionStrategyLiveMigrate, "10.244.0.13")
		kubevirtv1.SetVMICondition(&vmi.Status, kubevirtv1.VirtualMachineInstanceIsMigratable, corev1.ConditionTrue, "", "")
		vmi.Status.EvacuationNodeName = "infra-node-1"
		Expect(k8sClient.Status().Update(ctx, vmi)).To(Succeed())
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "kappa-md-1"}}
		Expect(k8sClient.Create(ctx, node)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, node))).To(Succeed()) })

		expectCondition(ctx, km, infrav1.VMLiveMigratableCondition, metav1.ConditionTrue, infrav1.VMLiveMigratableReason)
		Consistently(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vmi), vmi)).To(Succeed())
			g.Expect(vmi.DeletionTimestamp).To(BeNil(), "the migration moves it")
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
			g.Expect(node.Spec.Unschedulable).To(BeFalse(), "the nested node keeps running where the guest goes")
			g.Expect(getMachine(ctx, g, km).Annotations).NotTo(HaveKey(infrav1.VmiDeletionGraceTime))
		}).WithTimeout(3 * time.Second).WithPolling(500 * time.Millisecond).Should(Succeed())
	})
})
