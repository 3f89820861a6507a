package controller_test

import (
	"context"
	"net/http"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

// launcherOn creates a VMI with the eviction strategy (nil: none) and its launcher pod,
// bound to node and running, with the VMI's status as virt-handler would write it.
func launcherOn(ns, name, node string, strategy *kubevirtv1.EvictionStrategy) (*kubevirtv1.VirtualMachineInstance, *corev1.Pod) {
	ctx := context.Background()
	vmi := &kubevirtv1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: kubevirtv1.VirtualMachineInstanceSpec{EvictionStrategy: strategy, Domain: kubevirtv1.DomainSpec{
			Memory: &kubevirtv1.Memory{Guest: ptr.To(resource.MustParse("128Mi"))},
		}},
	}
	Expect(k8sClient.Create(ctx, vmi)).To(Succeed())
	vmi.Status.Phase, vmi.Status.NodeName = kubevirtv1.Running, node
	kubevirtv1.SetVMICondition(&vmi.Status, kubevirtv1.VirtualMachineInstanceIsMigratable, corev1.ConditionFalse, "DisksNotLiveMigratable", "cannot migrate VMI: PVC data is not shared, live migration requires that all PVCs must be shared (using ReadWriteMany access mode)")
	Expect(k8sClient.Status().Update(ctx, vmi)).To(Succeed())
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "virt-launcher-" + name + "-abcde",
			Labels:      map[string]string{kubevirtv1.AppLabel: launcherv1.AppLabelValue, kubevirtv1.CreatedByLabel: string(vmi.UID)},
			Annotations: map[string]string{kubevirtv1.DomainAnnotation: name}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: launcherv1.ComputeContainerName, Image: "localhost/hypernest/virt-launcher:test"}}},
	}
	Expect(k8sClient.Create(ctx, pod)).To(Succeed())
	return vmi, pod
}

func evict(pod *corev1.Pod, dryRun bool) error {
	eviction := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name}}
	if dryRun {
		eviction.DeleteOptions = &metav1.DeleteOptions{DryRun: []string{metav1.DryRunAll}}
	}
	return k8sClient.SubResource("eviction").Create(context.Background(), pod, eviction)
}

func expectTooManyRequests(err error, message string) {
	status, ok := err.(apierrors.APIStatus)
	Expect(ok).To(BeTrue(), "want an API status error, got %v", err)
	Expect(status.Status().Code).To(BeEquivalentTo(http.StatusTooManyRequests), "got %v", err)
	Expect(err.Error()).To(ContainSubstring(`admission webhook "virt-launcher-eviction-interceptor.kubevirt.io" denied the request: ` + message))
}

func evacuationNode(vmi *kubevirtv1.VirtualMachineInstance) string {
	got := &kubevirtv1.VirtualMachineInstance{}
	Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(vmi), got)).To(Succeed())
	return got.Status.EvacuationNodeName
}

var _ = Describe("Evicting a virt-launcher pod (kubectl drain)", func() {
	const node = "node-1"
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("is refused with 429 for a LiveMigrate VMI that cannot migrate, and nothing is marked", func() {
		vmi, pod := launcherOn(ns, "stays", node, ptr.To(kubevirtv1.EvictionStrategyLiveMigrate))
		expectTooManyRequests(evict(pod, false), "VMI stays is configured with an eviction strategy but is not live-migratable")
		Expect(evacuationNode(vmi)).To(BeEmpty())
		Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(pod), &corev1.Pod{})).To(Succeed())
	})

	It("marks an External VMI for evacuation, refusing with the text the descheduler parses", func() {
		vmi, pod := launcherOn(ns, "external", node, ptr.To(kubevirtv1.EvictionStrategyExternal))
		By("a dry run marks nothing")
		expectTooManyRequests(evict(pod, true), `Eviction triggered evacuation of VMI "`+ns+`/external"`)
		Expect(evacuationNode(vmi)).To(BeEmpty())
		By("the eviction marks the VMI with its node")
		expectTooManyRequests(evict(pod, false), `Eviction triggered evacuation of VMI "`+ns+`/external"`)
		Expect(evacuationNode(vmi)).To(Equal(node))
		By("and the next one says the evacuation is in progress")
		expectTooManyRequests(evict(pod, false), `Evacuation in progress: Eviction triggered evacuation of VMI "`+ns+`/external"`)
	})

	It("goes ahead for None, for no strategy, and for LiveMigrateIfPossible that cannot migrate", func() {
		for name, strategy := range map[string]*kubevirtv1.EvictionStrategy{
			"none":        ptr.To(kubevirtv1.EvictionStrategyNone),
			"unset":       nil,
			"if-possible": ptr.To(kubevirtv1.EvictionStrategyLiveMigrateIfPossible),
		} {
			_, pod := launcherOn(ns, name, node, strategy)
			Expect(evict(pod, false)).To(Succeed(), "strategy %s", name)
		}
	})

	It("follows the KubeVirt object's evictionStrategy when the VMI names none", func() {
		ctx := context.Background()
		kv := &kubevirtv1.KubeVirt{ObjectMeta: metav1.ObjectMeta{Namespace: hypernestNamespace, Name: "kubevirt"}}
		Expect(client.IgnoreAlreadyExists(k8sClient.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: hypernestNamespace}}))).To(Succeed())
		kv.Spec.Configuration.EvictionStrategy = ptr.To(kubevirtv1.EvictionStrategyLiveMigrate)
		Expect(k8sClient.Create(ctx, kv)).To(Succeed())
		DeferCleanup(func() { Expect(client.IgnoreNotFound(k8sClient.Delete(context.Background(), kv))).To(Succeed()) })

		_, pod := launcherOn(ns, "cluster-default", node, nil)
		// Dry runs until virt-api's cache shows the object: an eviction let through
		// meanwhile would remove the pod.
		Eventually(func(g Gomega) {
			err := evict(pod, true)
			g.Expect(err).To(HaveOccurred(), "the cache has not seen the KubeVirt object yet")
			g.Expect(err.Error()).To(ContainSubstring("is configured with an eviction strategy but is not live-migratable"))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})
})
