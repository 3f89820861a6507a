package functests

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/tests/framework"
)

var _ = Describe("VMI replica sets (virt-controller, virt-api)", Ordered, func() {
	BeforeAll(func(ctx SpecContext) { installHypernest(ctx) })

	It("runs KubeVirt's vmi-replicaset-cirros.yaml: 3 VMIs Ready, scaled to 5 and to 1 through the scale subresource, a lost VMI replaced, all gone with the set", func(ctx SpecContext) {
		ns := newTestNamespace()
		obj, err := framework.DecodeExample("vmi-replicaset-cirros.yaml")
		Expect(err).NotTo(HaveOccurred())
		rs := obj.(*v1.VirtualMachineInstanceReplicaSet)
		rs.Namespace = ns
		Expect(crClient.Create(ctx, rs)).To(Succeed())

		By("three VMIs run and are Ready; the set counts them")
		Eventually(func(g Gomega) {
			got := &v1.VirtualMachineInstanceReplicaSet{}
			g.Expect(crClient.Get(ctx, client.ObjectKeyFromObject(rs), got)).To(Succeed())
			g.Expect(got.Status.ReadyReplicas).To(BeEquivalentTo(3), "status: %s", toJSON(got.Status))
			g.Expect(replicaSetVMIs(ctx, g, got)).To(HaveLen(3))
		}).WithContext(ctx).WithTimeout(2 * vmiTimeout).WithPolling(2 * time.Second).Should(Succeed())

		// kubectl scale's requests: read the scale subresource, write it with the new count.
		scaleTo := func(replicas int32) {
			Eventually(func(g Gomega) {
				scale := &autoscalingv1.Scale{}
				g.Expect(crClient.SubResource("scale").Get(ctx, rs, scale)).To(Succeed())
				g.Expect(scale.Status.Selector).To(Equal("kubevirt.io/vmReplicaSet=vmi-replicaset-cirros"))
				scale.Spec.Replicas = replicas
				g.Expect(crClient.SubResource("scale").Update(ctx, rs, client.WithSubResourceBody(scale))).To(Succeed())
			}).WithContext(ctx).WithTimeout(apiTimeout).Should(Succeed())
		}
		By("scaled up to 5 through the scale subresource: five VMIs Ready")
		scaleTo(5)
		Eventually(func(g Gomega) {
			got := &v1.VirtualMachineInstanceReplicaSet{}
			g.Expect(crClient.Get(ctx, client.ObjectKeyFromObject(rs), got)).To(Succeed())
			g.Expect(got.Status.ReadyReplicas).To(BeEquivalentTo(5), "status: %s", toJSON(got.Status))
			g.Expect(replicaSetVMIs(ctx, g, got)).To(HaveLen(5))
		}).WithContext(ctx).WithTimeout(2 * vmiTimeout).WithPolling(2 * time.Second).Should(Succeed())

		By("scaled down to 1")
		scaleTo(1)
		var kept v1.VirtualMachineInstance
		Eventually(func(g Gomega) {
			got := &v1.VirtualMachineInstanceReplicaSet{}
			g.Expect(crClient.Get(ctx, client.ObjectKeyFromObject(rs), got)).To(Succeed())
			vmis := replicaSetVMIs(ctx, g, got)
			g.Expect(vmis).To(HaveLen(1))
			g.Expect(got.Status.Replicas).To(BeEquivalentTo(1))
			kept = vmis[0]
		}).WithContext(ctx).WithTimeout(vmiTimeout).WithPolling(2 * time.Second).Should(Succeed())

		By("a deleted VMI is replaced by a new one")
		Expect(crClient.Delete(ctx, &kept)).To(Succeed())
		Eventually(func(g Gomega) {
			vmis := replicaSetVMIs(ctx, g, rs)
			g.Expect(vmis).To(HaveLen(1))
			g.Expect(vmis[0].Name).NotTo(Equal(kept.Name))
			g.Expect(vmis[0].Status.Phase).To(Equal(v1.Running))
		}).WithContext(ctx).WithTimeout(vmiTimeout).WithPolling(2 * time.Second).Should(Succeed())

		By("deleting the set deletes its VMIs (owner references, the garbage collector)")
		Expect(crClient.Delete(ctx, rs)).To(Succeed())
		Eventually(func(g Gomega) {
			err := crClient.Get(ctx, client.ObjectKeyFromObject(rs), &v1.VirtualMachineInstanceReplicaSet{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the set: %v", err)
			list := &v1.VirtualMachineInstanceList{}
			g.Expect(crClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(BeEmpty())
		}).WithContext(ctx).WithTimeout(vmiTimeout).WithPolling(2 * time.Second).Should(Succeed())
	})

	It("refuses a set whose selector misses its template's labels, naming the field", func(ctx SpecContext) {
		obj, err := framework.DecodeExample("vmi-replicaset-cirros.yaml")
		Expect(err).NotTo(HaveOccurred())
		rs := obj.(*v1.VirtualMachineInstanceReplicaSet)
		rs.Namespace = newTestNamespace()
		rs.Spec.Template.ObjectMeta.Labels = map[string]string{"app": "elsewhere"}
		err = crClient.Create(ctx, rs)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "a 422 Invalid answer: %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.template.metadata.labels"))
	})
})

// replicaSetVMIs lists the live VMIs the set controls.
func replicaSetVMIs(ctx context.Context, g Gomega, rs *v1.VirtualMachineInstanceReplicaSet) []v1.VirtualMachineInstance {
	list := &v1.VirtualMachineInstanceList{}
	g.Expect(crClient.List(ctx, list, client.InNamespace(rs.Namespace))).To(Succeed())
	var owned []v1.VirtualMachineInstance
	for _, vmi := range list.Items {
		if ref := metav1.GetControllerOf(&vmi); ref != nil && ref.UID == rs.UID && vmi.DeletionTimestamp == nil {
			owned = append(owned, vmi)
		}
	}
	return owned
}
