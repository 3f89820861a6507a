package functests

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// burstTimeout: 50 paused VMIs reach Running in about 80 s on an idle 2-core machine;
// a loaded one may take several times that.
const burstTimeout = 10 * time.Minute

var _ = Describe("VMIs in bursts (virt-controller, virt-handler, virt-launcher under load)", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		installHypernest(ctx)
	})

	// Many launchers starting at once keep both cores busy; under that load a launcher
	// once took its just-started domain for a finished one, and the VMI ended as
	// Succeeded although its guest never stopped. Paused guests start their domains
	// without running their vCPUs, so 50 fit on 2 cores.
	It("brings every VMI of a burst of 50 paused guests to Running, twice, and none ends", func(ctx SpecContext) {
		runBursts(ctx, 50, 2, true)
	})

	// Ten TCG guests booting at once keep both cores busy for half a minute.
	It("brings every VMI of a burst of 10 booting guests to Running, and none ends", func(ctx SpecContext) {
		runBursts(ctx, 10, 1, false)
	})
})

// runBursts creates size VMIs at once, rounds times, and checks that each reaches Running
// and that none ends before it is deleted.
func runBursts(ctx context.Context, size, rounds int, paused bool) {
	ns := newTestNamespace()
	kind := "booting"
	if paused {
		kind = "paused"
	}
	for round := 1; round <= rounds; round++ {
		By(fmt.Sprintf("round %d: %d %s VMIs created at once", round, size, kind))
		var names []string
		for i := 0; i < size; i++ {
			vmi := exampleVMI("vmi-nocloud.yaml")
			vmi.Name, vmi.Namespace = fmt.Sprintf("burst-%s-%d-%d", kind, round, i), ns
			if paused {
				vmi.Spec.StartStrategy = ptr.To(v1.StartStrategyPaused)
			}
			vmi.Spec.TerminationGracePeriodSeconds = ptr.To[int64](0)
			// 2 CPUs for 50 pods: KubeVirt's default 100m request would leave most
			// of them unschedulable.
			vmi.Spec.Domain.Resources.Requests = k8sv1.ResourceList{k8sv1.ResourceCPU: resource.MustParse("10m")}
			Expect(crClient.Create(ctx, vmi)).To(Succeed())
			names = append(names, vmi.Name)
		}

		// Every VMI reaches Running (its domain started, paused); a VMI that ends on
		// the way stops the test at once, naming it.
		Eventually(func(g Gomega) {
			list := &v1.VirtualMachineInstanceList{}
			g.Expect(crClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			running := 0
			for _, vmi := range list.Items {
				if vmi.Status.Phase.IsFinal() {
					StopTrying(fmt.Sprintf("VMI %s ended as %s (reason %q) although its guest was never stopped; status: %s",
						vmi.Name, vmi.Status.Phase, vmi.Status.Reason, toJSON(vmi.Status))).Now()
				}
				if vmi.Status.Phase == v1.Running {
					running++
				}
			}
			g.Expect(running).To(Equal(size), "VMIs Running")
		}).WithContext(ctx).WithTimeout(burstTimeout).WithPolling(time.Second).Should(Succeed())

		By("no VMI ends (and paused guests stay paused) over two of the launchers' resync periods")
		Consistently(func(g Gomega) {
			list := &v1.VirtualMachineInstanceList{}
			g.Expect(crClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			for _, vmi := range list.Items {
				g.Expect(vmi.Status.Phase).To(Equal(v1.Running), "VMI %s", vmi.Name)
				if paused {
					g.Expect(condition(&vmi, v1.VirtualMachineInstancePaused)).To(Equal(k8sv1.ConditionTrue), "VMI %s", vmi.Name)
				}
			}
		}).WithContext(ctx).WithTimeout(12 * time.Second).WithPolling(2 * time.Second).Should(Succeed())

		By("deleting the burst")
		for _, name := range names {
			vmi := &v1.VirtualMachineInstance{}
			vmi.Name, vmi.Namespace = name, ns
			Expect(client.IgnoreNotFound(crClient.Delete(ctx, vmi))).To(Succeed())
		}
		Eventually(func(g Gomega) {
			list := &v1.VirtualMachineInstanceList{}
			g.Expect(crClient.List(ctx, list, client.InNamespace(ns))).To(Succeed())
			g.Expect(list.Items).To(BeEmpty())
			pods := &k8sv1.PodList{}
			g.Expect(crClient.List(ctx, pods, client.InNamespace(ns))).To(Succeed())
			g.Expect(pods.Items).To(BeEmpty())
		}).WithContext(ctx).WithTimeout(burstTimeout).WithPolling(time.Second).Should(Succeed())
	}
}
