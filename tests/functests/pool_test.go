package functests

import (
	"context"
	"sort"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	k8sv1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	poolv1 "github.com/hypernest/hypernest/api/pool/v1beta1"
	"github.com/hypernest/hypernest/tests/framework"
)

var _ = Describe("VM pools (virt-controller, virt-api)", Ordered, func() {
	BeforeAll(func(ctx SpecContext) { installHypernest(ctx) })

	It("runs KubeVirt's vm-pool-cirros.yaml: VMs <pool>-<index> Ready, their names kept across a guest restart and a lost VM, scaled through the scale subresource, gone with the pool", func(ctx SpecContext) {
		ns := newTestNamespace()
		obj, err := framework.DecodeExample("vm-pool-cirros.yaml")
		Expect(err).NotTo(HaveOccurred())
		pool := obj.(*poolv1.VirtualMachinePool)
		pool.Namespace = ns
		// Two guests instead of the example's three: under TCG each boot takes a CPU.
		pool.Spec.Replicas = ptr.To[int32](2)
		Expect(crClient.Create(ctx, pool)).To(Succeed())

		By("two VMs, vm-pool-cirros-0 and -1, run and are Ready; the pool counts them")
		Eventually(func(g Gomega) {
			got := &poolv1.VirtualMachinePool{}
			g.Expect(crClient.Get(ctx, client.ObjectKeyFromObject(pool), got)).To(Succeed())
			g.Expect(got.Status.ReadyReplicas).To(BeEquivalentTo(2), "status: %s", toJSON(got.Status))
			g.Expect(vmNames(poolVMs(ctx, g, got))).To(Equal([]string{"vm-pool-cirros-0", "vm-pool-cirros-1"}))
		}).WithContext(ctx).WithTimeout(2 * vmiTimeout).WithPolling(2 * time.Second).Should(Succeed())

		By("a restarted guest (its VMI deleted) comes back in the same VM, under the same name")
		vmi := &v1.VirtualMachineInstance{}
		Expect(crClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "vm-pool-cirros-0"}, vmi)).To(Succeed())
		Expect(vmi.Labels).To(HaveKey(poolv1.VirtualMachinePoolRevisionNameLabel))
		Expect(crClient.Delete(ctx, vmi)).To(Succeed())
		waitForRunningVMI(ctx, ns, "vm-pool-cirros-0", vmi.UID)

		By("a deleted VM is made again under its name")
		vm := &v1.VirtualMachine{}
		Expect(crClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "vm-pool-cirros-1"}, vm)).To(Succeed())
		Expect(crClient.Delete(ctx, vm)).To(Succeed())
		Eventually(func(g Gomega) {
			got := &v1.VirtualMachine{}
			g.Expect(crClient.Get(ctx, client.ObjectKeyFromObject(vm), got)).To(Succeed())
			g.Expect(got.UID).NotTo(Equal(vm.UID))
		}).WithContext(ctx).WithTimeout(vmiTimeout).WithPolling(2 * time.Second).Should(Succeed())
		waitForRunningVMI(ctx, ns, "vm-pool-cirros-1", "")

		By("kubectl scale's request: the scale subresource set to 1")
		scale := &autoscalingv1.Scale{}
		Eventually(func(g Gomega) {
			g.Expect(crClient.SubResource("scale").Get(ctx, pool, scale)).To(Succeed())
			g.Expect(scale.Status.Selector).To(Equal("kubevirt.io/vmpool=vm-pool-cirros"))
			scale.Spec.Replicas = 1
			g.Expect(crClient.SubResource("scale").Update(ctx, pool, client.WithSubResourceBody(scale))).To(Succeed())
		}).WithContext(ctx).WithTimeout(apiTimeout).Should(Succeed())
		Eventually(func(g Gomega) {
			got := &poolv1.VirtualMachinePool{}
			g.Expect(crClient.Get(ctx, client.ObjectKeyFromObject(pool), got)).To(Succeed())
			g.Expect(poolVMs(ctx, g, got)).To(HaveLen(1))
			g.Expect(got.Status.Replicas).To(BeEquivalentTo(1))
		}).WithContext(ctx).WithTimeout(vmiTimeout).WithPolling(2 * time.Second).Should(Succeed())

		By("deleting the pool deletes its VMs and their VMIs (owner references, the garbage collector)")
		Expect(crClient.Delete(ctx, pool)).To(Succeed())
		Eventually(func(g Gomega) {
			vms := &v1.VirtualMachineList{}
			g.Expect(crClient.List(ctx, vms, client.InNamespace(ns))).To(Succeed())
			g.Expect(vms.Items).To(BeEmpty())
			vmis := &v1.VirtualMachineInstanceList{}
			g.Expect(crClient.List(ctx, vmis, client.InNamespace(ns))).To(Succeed())
			g.Expect(vmis.Items).To(BeEmpty())
		}).WithContext(ctx).WithTimeout(vmiTimeout).WithPolling(2 * time.Second).Should(Succeed())
	})

	It("refuses a pool whose selector misses its template's labels, naming the field", func(ctx SpecContext) {
		obj, err := framework.DecodeExample("vm-pool-cirros.yaml")
		Expect(err).NotTo(HaveOccurred())
		pool := obj.(*poolv1.VirtualMachinePool)
		pool.Namespace = newTestNamespace()
		pool.Spec.VirtualMachineTemplate.ObjectMeta.Labels = map[string]string{"app": "elsewhere"}
		err = crClient.Create(ctx, pool)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "a 422 Invalid answer: %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.virtualMachineTemplate.metadata.labels"))
	})
})

// poolVMs lists the live VMs the pool controls, by name.
func poolVMs(ctx context.Context, g Gomega, pool *poolv1.VirtualMachinePool) []v1.VirtualMachine {
	list := &v1.VirtualMachineList{}
	g.Expect(crClient.List(ctx, list, client.InNamespace(pool.Namespace))).To(Succeed())
	var owned []v1.VirtualMachine
	for _, vm := range list.Items {
		if ref := metav1.GetControllerOf(&vm); ref != nil && ref.UID == pool.UID && vm.DeletionTimestamp == nil {
			owned = append(owned, vm)
		}
	}
	sort.Slice(owned, func(i, j int) bool { return owned[i].Name < owned[j].Name })
	return owned
}

func vmNames(vms []v1.VirtualMachine) []string {
	out := []string{}
	for _, vm := range vms {
		out = append(out, vm.Name)
	}
	return out
}

// waitForRunningVMI waits for a Running, Ready VMI of that name other than the one with
// oldUID.
func waitForRunningVMI(ctx context.Context, ns, name string, oldUID types.UID) {
	Eventually(func(g Gomega) {
		got := &v1.VirtualMachineInstance{}
		g.Expect(crClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, got)).To(Succeed())
		g.Expect(got.UID).NotTo(Equal(oldUID))
		g.Expect(got.Status.Phase).To(Equal(v1.Running))
		c := v1.VMICondition(&got.Status, v1.VirtualMachineInstanceReady)
		g.Expect(c).NotTo(BeNil())
		g.Expect(c.Status).To(Equal(k8sv1.ConditionTrue))
	}).WithContext(ctx).WithTimeout(vmiTimeout).WithPolling(2 * time.Second).Should(Succeed())
}
