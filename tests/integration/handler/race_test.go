package handler_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	controllervmi "github.com/hypernest/hypernest/components/virt-controller/vmi"
	"github.com/hypernest/hypernest/tests/framework"
)

// vmiConflicts is how many writes of VMIs (their status, or the object: labels,
// finalizers) envtest's apiserver refused with 409 Conflict so far: each is a write made
// from a stale read, which without its resourceVersion precondition would have
// overwritten the other component's.
func vmiConflicts(ctx context.Context) int {
	raw, err := kubeClient.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	Expect(err).NotTo(HaveOccurred())
	total := 0
	lines := bufio.NewScanner(bytes.NewReader(raw))
	lines.Buffer(make([]byte, 1<<20), 1<<20)
	for lines.Scan() {
		line := lines.Text()
		if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `code="409"`) ||
			!strings.Contains(line, `resource="virtualmachineinstances"`) {
			continue
		}
		fields := strings.Fields(line)
		n, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		Expect(err).NotTo(HaveOccurred())
		total += int(n)
	}
	return total
}

func nocloudVMI(name string) *v1.VirtualMachineInstance {
	obj, err := framework.DecodeExample("vmi-nocloud.yaml")
	Expect(err).NotTo(HaveOccurred())
	vmi := obj.(*v1.VirtualMachineInstance)
	vmi.Name, vmi.Namespace = name, "default"
	// No pod network here: the launcher runs in the host's network namespace.
	vmi.Spec.Domain.Devices.AutoattachPodInterface = ptr.To(false)
	vmi.Spec.Domain.Devices.Interfaces, vmi.Spec.Networks = nil, nil
	return vmi
}

var _ = Describe("virt-controller and virt-handler writing the same VMIs' status", func() {
	It("take VMIs to Running together, and neither loses what the other wrote", func(ctx SpecContext) {
		conflictsBefore := vmiConflicts(ctx)
		names := []string{"race-0", "race-1", "race-2"}
		for _, name := range names {
			Expect(k8sClient.Create(ctx, nocloudVMI(name))).To(Succeed())
		}
		DeferCleanup(func(ctx SpecContext) {
			for _, name := range names {
				vmi := &v1.VirtualMachineInstance{}
				vmi.Name, vmi.Namespace = name, "default"
				Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, vmi))).To(Succeed())
			}
		})

		By("all Running: virt-controller took each to Scheduled, virt-handler from there")
		Eventually(func(g Gomega) {
			for _, name := range names {
				vmi := &v1.VirtualMachineInstance{}
				g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, vmi)).To(Succeed())
				g.Expect(vmi.Status.Phase).To(Equal(v1.Running), "%s: %+v", name, vmi.Status)
			}
		}).WithContext(ctx).WithTimeout(startTimeout).WithPolling(time.Second).Should(Succeed())

		By("each status holds what both wrote")
		for _, name := range names {
			vmi := &v1.VirtualMachineInstance{}
			Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: "default", Name: name}, vmi)).To(Succeed())
			// virt-controller's: the node, the scheduling phases, the pod's PodScheduled.
			Expect(vmi.Status.NodeName).To(Equal(nodeName))
			Expect(vmi.Labels).To(HaveKeyWithValue(v1.NodeNameLabel, nodeName))
			var phases []v1.VirtualMachineInstancePhase
			for _, t := range vmi.Status.PhaseTransitionTimestamps {
				phases = append(phases, t.Phase)
			}
			Expect(phases).To(ContainElements(v1.Pending, v1.Scheduling, v1.Scheduled, v1.Running), "%s: every phase either component set is recorded", name)
			Expect(slices.Index(phases, v1.Scheduled)).To(BeNumerically("<", slices.Index(phases, v1.Running)))
			Expect(vmi.Status.Conditions).To(ContainElement(And(HaveField("Type", controllervmi.PodScheduledCondition), HaveField("Status", k8sv1.ConditionTrue))), "%s: virt-controller's condition", name)
			// virt-handler's: the guest ready and live-migratable, the launcher image; no
			// sync failure left.
			Expect(vmi.Status.Conditions).To(ContainElement(And(HaveField("Type", v1.VirtualMachineInstanceReady), HaveField("Status", k8sv1.ConditionTrue))), "%s: virt-handler's condition", name)
			Expect(vmi.Status.Conditions).To(ContainElement(And(HaveField("Type", v1.VirtualMachineInstanceIsMigratable), HaveField("Status", k8sv1.ConditionTrue))), "%s: virt-handler's condition", name)
			Expect(vmi.Status.Conditions).NotTo(ContainElement(HaveField("Type", v1.VirtualMachineInstanceSynchronized)), "%s", name)
			Expect(vmi.Status.LauncherContainerImageVersion).NotTo(BeEmpty())

			pods := &k8sv1.PodList{}
			Expect(k8sClient.List(ctx, pods, client.MatchingLabels{v1.CreatedByLabel: string(vmi.UID)})).To(Succeed())
			Expect(pods.Items).To(HaveLen(1), "%s: one launcher pod", name)
		}
		// Printed, not asserted: whether the two collided depends on timing.
		fmt.Fprintf(GinkgoWriter, "VMI writes refused with 409 Conflict and retried: %d\n", vmiConflicts(ctx)-conflictsBefore)
		AddReportEntry("vmi write conflicts", vmiConflicts(ctx)-conflictsBefore)
	})
})

var _ = Describe("a launcher pod the node refuses at admission", func() {
	It("is replaced: the VMI runs in a second pod instead of failing (virt-handler's device plugins re-registering)", func(ctx SpecContext) {
		vmi := nocloudVMI("rejected-once")
		vmi.Labels = map[string]string{rejectFirstPodLabel: "true"}
		Expect(k8sClient.Create(ctx, vmi)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, vmi))).To(Succeed()) })

		Eventually(func(g Gomega) {
			got := &v1.VirtualMachineInstance{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vmi), got)).To(Succeed())
			if got.Status.Phase == v1.Failed {
				StopTrying(fmt.Sprintf("the VMI failed with its refused pod: %+v", got.Status)).Now()
			}
			g.Expect(got.Status.Phase).To(Equal(v1.Running))
		}).WithContext(ctx).WithTimeout(startTimeout).WithPolling(time.Second).Should(Succeed())

		pods := &k8sv1.PodList{}
		Expect(k8sClient.List(ctx, pods, client.MatchingLabels{v1.CreatedByLabel: string(vmi.UID)})).To(Succeed())
		Expect(pods.Items).To(HaveLen(1), "the refused pod is deleted, one runs the guest")
		Expect(pods.Items[0].Status.Phase).To(Equal(k8sv1.PodRunning))
		Eventually(func(g Gomega) {
			events := &k8sv1.EventList{}
			g.Expect(k8sClient.List(ctx, events, client.InNamespace(vmi.Namespace))).To(Succeed())
			g.Expect(events.Items).To(ContainElement(And(
				HaveField("InvolvedObject.UID", vmi.UID),
				HaveField("Reason", controllervmi.ReasonLauncherRejected),
				HaveField("Message", ContainSubstring("UnexpectedAdmissionError")))))
		}).WithContext(ctx).WithTimeout(time.Minute).Should(Succeed(), "the VMI's event says why another pod was made")
	})
})
