package controller_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
)

func newReplicaSet(ns, name string, replicas int32) *kubevirtv1.VirtualMachineInstanceReplicaSet {
	labels := map[string]string{"app": name}
	return &kubevirtv1.VirtualMachineInstanceReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: kubevirtv1.VirtualMachineInstanceReplicaSetSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: &kubevirtv1.VirtualMachineInstanceTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: kubevirtv1.VirtualMachineInstanceSpec{Domain: kubevirtv1.DomainSpec{
					Memory: &kubevirtv1.Memory{Guest: ptr.To(resource.MustParse("128Mi"))},
				}},
			},
		},
	}
}

// vmisOf lists the VMIs the replica set controls.
func vmisOf(g Gomega, rs *kubevirtv1.VirtualMachineInstanceReplicaSet) []kubevirtv1.VirtualMachineInstance {
	list := &kubevirtv1.VirtualMachineInstanceList{}
	g.Expect(k8sClient.List(context.Background(), list, client.InNamespace(rs.Namespace))).To(Succeed())
	var owned []kubevirtv1.VirtualMachineInstance
	for _, vmi := range list.Items {
		if ref := metav1.GetControllerOf(&vmi); ref != nil && ref.UID == rs.UID && vmi.DeletionTimestamp == nil {
			owned = append(owned, vmi)
		}
	}
	return owned
}

// waitForVMIs waits until the replica set controls count live VMIs, and returns them.
func waitForVMIs(rs *kubevirtv1.VirtualMachineInstanceReplicaSet, count int) []kubevirtv1.VirtualMachineInstance {
	var vmis []kubevirtv1.VirtualMachineInstance
	Eventually(func(g Gomega) {
		vmis = vmisOf(g, rs)
		g.Expect(vmis).To(HaveLen(count))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	return vmis
}

// runVMI writes what virt-handler would: the VMI runs on a node, Ready or not.
func runVMI(vmi *kubevirtv1.VirtualMachineInstance, ready bool) {
	Eventually(func(g Gomega) {
		got := &kubevirtv1.VirtualMachineInstance{}
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(vmi), got)).To(Succeed())
		got.Status.Phase = kubevirtv1.Running
		got.Status.NodeName = "node-1"
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		kubevirtv1.SetVMICondition(&got.Status, kubevirtv1.VirtualMachineInstanceReady, status, "", "")
		g.Expect(k8sClient.Status().Update(context.Background(), got)).To(Succeed())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

var _ = Describe("VirtualMachineInstanceReplicaSet", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("creates spec.replicas VMIs from the template, owned by the set and named after it, and sums them up in its status", func(ctx SpecContext) {
		rs := newReplicaSet(ns, "web", 3)
		Expect(k8sClient.Create(ctx, rs)).To(Succeed())
		vmis := waitForVMIs(rs, 3)
		for _, vmi := range vmis {
			Expect(vmi.Name).To(HavePrefix("web"))
			Expect(vmi.Labels).To(HaveKeyWithValue("app", "web"))
			Expect(metav1.GetControllerOf(&vmi).Kind).To(Equal("VirtualMachineInstanceReplicaSet"))
		}
		// Settle first: nothing more is created once the cache has caught up.
		Consistently(func(g Gomega) { g.Expect(vmisOf(g, rs)).To(HaveLen(3)) }).WithTimeout(2 * time.Second).WithPolling(interval).Should(Succeed())

		runVMI(&vmis[0], true)
		runVMI(&vmis[1], false)
		Eventually(func(g Gomega) {
			got := &kubevirtv1.VirtualMachineInstanceReplicaSet{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rs), got)).To(Succeed())
			g.Expect(got.Status.Replicas).To(BeEquivalentTo(3))
			g.Expect(got.Status.ReadyReplicas).To(BeEquivalentTo(1))
			g.Expect(got.Status.LabelSelector).To(Equal("app=web"))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})

	It("scales through the scale subresource, removing VMIs not yet on a node first, then not ready ones, then the newest", func(ctx SpecContext) {
		rs := newReplicaSet(ns, "scaled", 3)
		Expect(k8sClient.Create(ctx, rs)).To(Succeed())
		vmis := waitForVMIs(rs, 3)
		runVMI(&vmis[0], true)
		runVMI(&vmis[1], false)
		pending := vmis[2].Name

		By("reading the scale subresource, as kubectl scale and a HorizontalPodAutoscaler do")
		scale := &autoscalingv1.Scale{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.SubResource("scale").Get(ctx, rs, scale)).To(Succeed())
			g.Expect(scale.Status.Replicas).To(BeEquivalentTo(3))
			g.Expect(scale.Status.Selector).To(Equal("app=scaled"))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

		By("scaling to 2: the VMI not yet on a node goes")
		scale.Spec.Replicas = 2
		Expect(k8sClient.SubResource("scale").Update(ctx, rs, client.WithSubResourceBody(scale))).To(Succeed())
		Eventually(func(g Gomega) {
			left := vmisOf(g, rs)
			g.Expect(left).To(HaveLen(2))
			g.Expect(names(left)).NotTo(ContainElement(pending))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

		By("scaling to 1: the running but not ready VMI goes, the ready one stays")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.SubResource("scale").Get(ctx, rs, scale)).To(Succeed())
			scale.Spec.Replicas = 1
			g.Expect(k8sClient.SubResource("scale").Update(ctx, rs, client.WithSubResourceBody(scale))).To(Succeed())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(names(vmisOf(g, rs))).To(ConsistOf(vmis[0].Name))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})

	It("replaces a VMI that failed", func(ctx SpecContext) {
		rs := newReplicaSet(ns, "replace", 1)
		Expect(k8sClient.Create(ctx, rs)).To(Succeed())
		first := waitForVMIs(rs, 1)[0]
		first.Status.Phase = kubevirtv1.Failed
		Expect(k8sClient.Status().Update(ctx, &first)).To(Succeed())
		Eventually(func(g Gomega) {
			vmis := vmisOf(g, rs)
			g.Expect(vmis).To(HaveLen(1))
			g.Expect(vmis[0].Name).NotTo(Equal(first.Name))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})

	It("adopts a matching VMI no one owns, and releases one relabelled out of its selector", func(ctx SpecContext) {
		rs := newReplicaSet(ns, "adopt", 1)
		orphan := &kubevirtv1.VirtualMachineInstance{
			ObjectMeta: metav1.ObjectMeta{Name: "orphan", Namespace: ns, Labels: map[string]string{"app": "adopt"}},
			Spec:       rs.Spec.Template.Spec,
		}
		Expect(k8sClient.Create(ctx, orphan)).To(Succeed())
		Expect(k8sClient.Create(ctx, rs)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(names(vmisOf(g, rs))).To(ConsistOf("orphan"))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Consistently(func(g Gomega) { g.Expect(vmisOf(g, rs)).To(HaveLen(1)) }).WithTimeout(2 * time.Second).WithPolling(interval).Should(Succeed())

		By("relabelling the VMI: the set lets it go and starts another")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(orphan), orphan)).To(Succeed())
			orphan.Labels["app"] = "debugging"
			g.Expect(k8sClient.Update(ctx, orphan)).To(Succeed())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Eventually(func(g Gomega) {
			vmis := vmisOf(g, rs)
			g.Expect(vmis).To(HaveLen(1))
			g.Expect(vmis[0].Name).NotTo(Equal("orphan"))
			released := &kubevirtv1.VirtualMachineInstance{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(orphan), released)).To(Succeed())
			g.Expect(metav1.GetControllerOf(released)).To(BeNil())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})

	It("creates and deletes nothing while paused, and says so in a condition", func(ctx SpecContext) {
		rs := newReplicaSet(ns, "paused", 2)
		rs.Spec.Paused = true
		Expect(k8sClient.Create(ctx, rs)).To(Succeed())
		Eventually(func(g Gomega) {
			got := &kubevirtv1.VirtualMachineInstanceReplicaSet{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rs), got)).To(Succeed())
			g.Expect(got.Status.Conditions).To(ContainElement(And(
				HaveField("Type", kubevirtv1.VirtualMachineInstanceReplicaSetReplicaPaused),
				HaveField("Status", corev1.ConditionTrue))))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Consistently(func(g Gomega) { g.Expect(vmisOf(g, rs)).To(BeEmpty()) }).WithTimeout(2 * time.Second).WithPolling(interval).Should(Succeed())

		By("unpausing: the VMIs come and the condition goes")
		Eventually(func(g Gomega) {
			got := &kubevirtv1.VirtualMachineInstanceReplicaSet{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rs), got)).To(Succeed())
			got.Spec.Paused = false
			g.Expect(k8sClient.Update(ctx, got)).To(Succeed())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(vmisOf(g, rs)).To(HaveLen(2))
			got := &kubevirtv1.VirtualMachineInstanceReplicaSet{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(rs), got)).To(Succeed())
			g.Expect(got.Status.Conditions).NotTo(ContainElement(HaveField("Type", kubevirtv1.VirtualMachineInstanceReplicaSetReplicaPaused)))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})
})

func names(vmis []kubevirtv1.VirtualMachineInstance) []string {
	out := make([]string, 0, len(vmis))
	for _, vmi := range vmis {
		out = append(out, vmi.Name)
	}
	return out
}
