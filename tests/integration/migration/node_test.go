package migration_test

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/components/virt-controller/node"
)

// newNode creates a node whose handler last beat at beat.
func newNode(beat time.Time) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{GenerateName: "node-", Labels: map[string]string{kubevirtv1.NodeSchedulable: "true"},
		Annotations: map[string]string{kubevirtv1.VirtHandlerHeartbeat: beat.UTC().Format(time.RFC3339)}}}
	Expect(k8sClient.Create(context.Background(), n)).To(Succeed())
	return n
}

func vmiPhase(g Gomega, vmi *kubevirtv1.VirtualMachineInstance) (kubevirtv1.VirtualMachineInstancePhase, string) {
	got := &kubevirtv1.VirtualMachineInstance{}
	g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(vmi), got)).To(Succeed())
	return got.Status.Phase, got.Status.Reason
}

var _ = Describe("A node whose virt-handler stopped beating", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("is marked unschedulable, and its VMIs fail once their pods are gone, not before", func() {
		ctx := context.Background()
		dead := newNode(time.Now().Add(-node.HeartbeatTimeout - time.Minute))
		podless, pod := runningVMI(ns, "podless", dead.Name)
		Expect(k8sClient.Delete(ctx, pod, client.GracePeriodSeconds(0))).To(Succeed())
		held, heldPod := runningVMI(ns, "held", dead.Name)

		Eventually(func(g Gomega) {
			got := &corev1.Node{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(dead), got)).To(Succeed())
			g.Expect(got.Labels).To(HaveKeyWithValue(kubevirtv1.NodeSchedulable, "false"))
			phase, reason := vmiPhase(g, podless)
			g.Expect(phase).To(Equal(kubevirtv1.Failed))
			g.Expect(reason).To(Equal(node.ReasonNodeUnresponsive))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

		By("a VMI whose pod is still in the API may still run its guest: it stays")
		Consistently(func(g Gomega) {
			phase, _ := vmiPhase(g, held)
			g.Expect(phase).To(Equal(kubevirtv1.Running))
		}).WithTimeout(3 * time.Second).WithPolling(interval).Should(Succeed())

		By("its pod gone (force-deleted, or the node out of service), it fails too")
		Expect(k8sClient.Delete(ctx, heldPod, client.GracePeriodSeconds(0))).To(Succeed())
		Eventually(func(g Gomega) {
			phase, reason := vmiPhase(g, held)
			g.Expect(phase).To(Equal(kubevirtv1.Failed))
			g.Expect(reason).To(Equal(node.ReasonNodeUnresponsive))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})

	It("leaves a node with a fresh heartbeat, and its VMIs, alone", func() {
		ctx := context.Background()
		alive := newNode(time.Now())
		podless, pod := runningVMI(ns, "podless", alive.Name)
		Expect(k8sClient.Delete(ctx, pod, client.GracePeriodSeconds(0))).To(Succeed())
		Consistently(func(g Gomega) {
			got := &corev1.Node{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(alive), got)).To(Succeed())
			g.Expect(got.Labels).To(HaveKeyWithValue(kubevirtv1.NodeSchedulable, "true"))
			phase, _ := vmiPhase(g, podless)
			g.Expect(phase).To(Equal(kubevirtv1.Running), "virt-controller's VMI controller, not the node controller, reports a vanished pod on a live node")
		}).WithTimeout(3 * time.Second).WithPolling(interval).Should(Succeed())
	})

	It("fails the pod-less VMIs of a node that was deleted", func() {
		vmi, pod := runningVMI(ns, "orphan", "node-deleted")
		Expect(k8sClient.Delete(context.Background(), pod, client.GracePeriodSeconds(0))).To(Succeed())
		Eventually(func(g Gomega) {
			phase, reason := vmiPhase(g, vmi)
			g.Expect(phase).To(Equal(kubevirtv1.Failed))
			g.Expect(reason).To(Equal(node.ReasonNodeUnresponsive))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})
})
