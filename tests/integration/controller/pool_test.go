package controller_test

import (
	"context"
	"sort"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	. "github.com/onsi/gomega/gstruct"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	poolv1 "github.com/hypernest/hypernest/api/pool/v1beta1"
)

func newPool(ns, name string, replicas int32) *poolv1.VirtualMachinePool {
	labels := map[string]string{"kubevirt.io/vmpool": name}
	return &poolv1.VirtualMachinePool{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: poolv1.VirtualMachinePoolSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			VirtualMachineTemplate: &poolv1.VirtualMachineTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: kubevirtv1.VirtualMachineSpec{
					RunStrategy: ptr.To(kubevirtv1.RunStrategyAlways),
					Template: &kubevirtv1.VirtualMachineInstanceTemplateSpec{
						ObjectMeta: metav1.ObjectMeta{Labels: labels},
						Spec: kubevirtv1.VirtualMachineInstanceSpec{
							Domain: kubevirtv1.DomainSpec{Memory: &kubevirtv1.Memory{Guest: ptr.To(resource.MustParse("128Mi"))}},
							Volumes: []kubevirtv1.Volume{{Name: "cloudinit", VolumeSource: kubevirtv1.VolumeSource{
								CloudInitNoCloud: &kubevirtv1.CloudInitNoCloudSource{UserDataSecretRef: &corev1.LocalObjectReference{Name: "userdata"}},
							}}},
						},
					},
				},
			},
		},
	}
}

// vmsOf returns the names of the live VMs the pool controls, sorted.
func vmsOf(g Gomega, pool *poolv1.VirtualMachinePool) []kubevirtv1.VirtualMachine {
	list := &kubevirtv1.VirtualMachineList{}
	g.Expect(k8sClient.List(context.Background(), list, client.InNamespace(pool.Namespace))).To(Succeed())
	var owned []kubevirtv1.VirtualMachine
	for _, vm := range list.Items {
		if ref := metav1.GetControllerOf(&vm); ref != nil && ref.UID == pool.UID && vm.DeletionTimestamp == nil {
			owned = append(owned, vm)
		}
	}
	sort.Slice(owned, func(i, j int) bool { return owned[i].Name < owned[j].Name })
	return owned
}

func vmNames(vms []kubevirtv1.VirtualMachine) []string {
	out := make([]string, 0, len(vms))
	for _, vm := range vms {
		out = append(out, vm.Name)
	}
	return out
}

// waitForVMNames waits until the pool controls exactly the VMs named.
func waitForVMNames(pool *poolv1.VirtualMachinePool, want ...string) []kubevirtv1.VirtualMachine {
	var vms []kubevirtv1.VirtualMachine
	Eventually(func(g Gomega) {
		vms = vmsOf(g, pool)
		g.Expect(vmNames(vms)).To(ConsistOf(want))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	return vms
}

// startVM writes what virt-controller's VM controller and virt-handler would: the VM's
// VMI (from its template, so with its revision label), Running and Ready, and the VM
// Ready.
func startVM(vm *kubevirtv1.VirtualMachine) *kubevirtv1.VirtualMachineInstance {
	ctx := context.Background()
	vmi := &kubevirtv1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{
			Name: vm.Name, Namespace: vm.Namespace, Labels: vm.Spec.Template.ObjectMeta.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(vm, kubevirtv1.VirtualMachineGroupVersionKind)},
		},
		Spec: vm.Spec.Template.Spec,
	}
	Expect(k8sClient.Create(ctx, vmi)).To(Succeed())
	runVMI(vmi, true)
	Eventually(func(g Gomega) {
		got := &kubevirtv1.VirtualMachine{}
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(vm), got)).To(Succeed())
		kubevirtv1.SetVMCondition(&got.Status, kubevirtv1.VirtualMachineReady, corev1.ConditionTrue, "", "")
		g.Expect(k8sClient.Status().Update(ctx, got)).To(Succeed())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	return vmi
}

// setStartFailures writes what the VM controller would after failed starts.
func setStartFailures(vm *kubevirtv1.VirtualMachine, count int) {
	Eventually(func(g Gomega) {
		got := &kubevirtv1.VirtualMachine{}
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(vm), got)).To(Succeed())
		got.Status.StartFailure = &kubevirtv1.VirtualMachineStartFailure{ConsecutiveFailCount: count}
		got.Status.PrintableStatus = kubevirtv1.VirtualMachineStatusCrashLoopBackOff
		g.Expect(k8sClient.Status().Update(context.Background(), got)).To(Succeed())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

func updatePool(pool *poolv1.VirtualMachinePool, mutate func(*poolv1.VirtualMachinePool)) {
	Eventually(func(g Gomega) {
		got := &poolv1.VirtualMachinePool{}
		g.Expect(k8sClient.Get(context.Background(), client.ObjectKeyFromObject(pool), got)).To(Succeed())
		mutate(got)
		g.Expect(k8sClient.Update(context.Background(), got)).To(Succeed())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
}

var _ = Describe("VirtualMachinePool", func() {
	var ns string
	BeforeEach(func() { ns = newNamespace() })

	It("creates VMs <pool>-<index> from the template, owned by the pool, with the revision of the spec they come from, and sums them up", func(ctx SpecContext) {
		pool := newPool(ns, "db", 3)
		pool.Spec.NameGeneration = &poolv1.VirtualMachinePoolNameGeneration{AppendIndexToSecretRefs: ptr.To(true)}
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		vms := waitForVMNames(pool, "db-0", "db-1", "db-2")
		for i, vm := range vms {
			Expect(vm.Labels).To(HaveKeyWithValue("kubevirt.io/vmpool", "db"))
			revision := vm.Labels[poolv1.VirtualMachinePoolRevisionNameLabel]
			Expect(revision).To(Equal("db-1"), "the revision is <pool>-<generation>")
			Expect(vm.Spec.Template.ObjectMeta.Labels).To(HaveKeyWithValue(poolv1.VirtualMachinePoolRevisionNameLabel, revision), "so the VMI carries it too")
			Expect(*metav1.GetControllerOf(&vm)).To(MatchFields(IgnoreExtras, Fields{"Kind": Equal("VirtualMachinePool"), "Name": Equal("db")}))
			Expect(vm.Spec.Template.Spec.Volumes[0].CloudInitNoCloud.UserDataSecretRef.Name).To(Equal([]string{"userdata-0", "userdata-1", "userdata-2"}[i]),
				"nameGeneration.appendIndexToSecretRefs gives each VM its own Secret")
		}
		rev := &appsv1.ControllerRevision{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "db-1"}, rev)).To(Succeed())
		Expect(metav1.GetControllerOf(rev).UID).To(Equal(pool.UID))

		startVM(&vms[0])
		Eventually(func(g Gomega) {
			got := &poolv1.VirtualMachinePool{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pool), got)).To(Succeed())
			g.Expect(got.Status.Replicas).To(Equal(int32(3)))
			g.Expect(got.Status.ReadyReplicas).To(Equal(int32(1)))
			g.Expect(got.Status.LabelSelector).To(Equal("kubevirt.io/vmpool=db"))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})

	It("keeps names: a deleted VM comes back under its name, new VMs take the lowest free index, and the scale subresource works", func(ctx SpecContext) {
		pool := newPool(ns, "web", 2)
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		vms := waitForVMNames(pool, "web-0", "web-1")
		Expect(k8sClient.Delete(ctx, &vms[0])).To(Succeed())
		Eventually(func(g Gomega) {
			got := vmsOf(g, pool)
			g.Expect(vmNames(got)).To(ConsistOf("web-0", "web-1"))
			g.Expect(got[0].UID).NotTo(Equal(vms[0].UID), "web-0 is a new VM")
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

		scale := &autoscalingv1.Scale{Spec: autoscalingv1.ScaleSpec{Replicas: 4}}
		Expect(k8sClient.SubResource("scale").Update(ctx, pool, client.WithSubResourceBody(scale))).To(Succeed())
		waitForVMNames(pool, "web-0", "web-1", "web-2", "web-3")
	})

	It("scales in as the proactive strategy's sort policy says, and not at all when unmanaged", func(ctx SpecContext) {
		pool := newPool(ns, "batch", 4)
		descending := poolv1.VirtualMachinePoolSortDescendingOrder
		pool.Spec.ScaleInStrategy = &poolv1.VirtualMachinePoolScaleInStrategy{Proactive: &poolv1.VirtualMachinePoolProactiveScaleInStrategy{
			SelectionPolicy: &poolv1.VirtualMachinePoolSelectionPolicy{SortPolicy: &descending},
		}}
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		waitForVMNames(pool, "batch-0", "batch-1", "batch-2", "batch-3")
		updatePool(pool, func(p *poolv1.VirtualMachinePool) { p.Spec.Replicas = ptr.To[int32](2) })
		waitForVMNames(pool, "batch-0", "batch-1")

		updatePool(pool, func(p *poolv1.VirtualMachinePool) {
			p.Spec.ScaleInStrategy = &poolv1.VirtualMachinePoolScaleInStrategy{Unmanaged: &poolv1.VirtualMachinePoolUnmanagedStrategy{}}
			p.Spec.Replicas = ptr.To[int32](1)
		})
		Consistently(func(g Gomega) {
			g.Expect(vmNames(vmsOf(g, pool))).To(ConsistOf("batch-0", "batch-1"))
		}).WithTimeout(3 * timeout / 60).WithPolling(interval).Should(Succeed())
	})

	It("updates VMs to a changed template and restarts their guests (proactive), or leaves the guests to their next start (opportunistic)", func(ctx SpecContext) {
		pool := newPool(ns, "app", 2)
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		vms := waitForVMNames(pool, "app-0", "app-1")
		vmi0, vmi1 := startVM(&vms[0]), startVM(&vms[1])

		By("a new guest memory, with the default (proactive) update strategy")
		updatePool(pool, func(p *poolv1.VirtualMachinePool) {
			p.Spec.VirtualMachineTemplate.Spec.Template.Spec.Domain.Memory.Guest = ptr.To(resource.MustParse("256Mi"))
		})
		Eventually(func(g Gomega) {
			for _, vm := range vmsOf(g, pool) {
				g.Expect(vm.Spec.Template.Spec.Domain.Memory.Guest.String()).To(Equal("256Mi"))
				g.Expect(vm.Labels[poolv1.VirtualMachinePoolRevisionNameLabel]).To(Equal("app-2"))
			}
			for _, vmi := range []*kubevirtv1.VirtualMachineInstance{vmi0, vmi1} {
				err := k8sClient.Get(ctx, client.ObjectKeyFromObject(vmi), &kubevirtv1.VirtualMachineInstance{})
				g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "VMI %s still runs the old template", vmi.Name)
			}
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Eventually(func(g Gomega) {
			revs := &appsv1.ControllerRevisionList{}
			g.Expect(k8sClient.List(ctx, revs, client.InNamespace(ns))).To(Succeed())
			g.Expect(revs.Items).To(HaveLen(1), "the revision nothing names any more is pruned")
			g.Expect(revs.Items[0].Name).To(Equal("app-2"))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

		By("the opportunistic strategy updates the VMs but leaves running guests alone")
		vms = vmsOf(Default, pool)
		vmi0 = startVM(&vms[0])
		updatePool(pool, func(p *poolv1.VirtualMachinePool) {
			p.Spec.UpdateStrategy = &poolv1.VirtualMachinePoolUpdateStrategy{Opportunistic: &poolv1.VirtualMachinePoolOpportunisticUpdateStrategy{}}
			p.Spec.VirtualMachineTemplate.Spec.Template.Spec.Domain.Memory.Guest = ptr.To(resource.MustParse("192Mi"))
		})
		Eventually(func(g Gomega) {
			for _, vm := range vmsOf(g, pool) {
				g.Expect(vm.Spec.Template.Spec.Domain.Memory.Guest.String()).To(Equal("192Mi"))
			}
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Consistently(func() error {
			return k8sClient.Get(ctx, client.ObjectKeyFromObject(vmi0), &kubevirtv1.VirtualMachineInstance{})
		}).WithTimeout(3 * timeout / 60).WithPolling(interval).Should(Succeed())
	})

	It("autohealing replaces a VM that failed to start too often, under its name", func(ctx SpecContext) {
		pool := newPool(ns, "heal", 2)
		pool.Spec.Autohealing = &poolv1.VirtualMachinePoolAutohealingStrategy{StartUpFailureThreshold: ptr.To[uint32](2)}
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		vms := waitForVMNames(pool, "heal-0", "heal-1")

		By("one failed start is under the threshold")
		setStartFailures(&vms[1], 1)
		Consistently(func(g Gomega) {
			got := vmsOf(g, pool)
			g.Expect(got).To(HaveLen(2))
			g.Expect(got[1].UID).To(Equal(vms[1].UID))
		}).WithTimeout(3 * timeout / 60).WithPolling(interval).Should(Succeed())

		By("the second reaches it: the VM is made again")
		setStartFailures(&vms[1], 2)
		Eventually(func(g Gomega) {
			got := vmsOf(g, pool)
			g.Expect(vmNames(got)).To(ConsistOf("heal-0", "heal-1"))
			g.Expect(got[1].UID).NotTo(Equal(vms[1].UID))
			g.Expect(got[0].UID).To(Equal(vms[0].UID), "the healthy VM stays")
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})

	It("does nothing while paused, and says so", func(ctx SpecContext) {
		pool := newPool(ns, "idle", 2)
		pool.Spec.Paused = true
		Expect(k8sClient.Create(ctx, pool)).To(Succeed())
		Eventually(func(g Gomega) {
			got := &poolv1.VirtualMachinePool{}
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(pool), got)).To(Succeed())
			g.Expect(got.Status.Conditions).To(ContainElement(MatchFields(IgnoreExtras, Fields{
				"Type": Equal(poolv1.VirtualMachinePoolReplicaPaused), "Status": Equal(corev1.ConditionTrue), "Reason": Equal("SuccessfulPaused"),
			})))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Expect(vmNames(vmsOf(Default, pool))).To(BeEmpty())
		updatePool(pool, func(p *poolv1.VirtualMachinePool) { p.Spec.Paused = false })
		waitForVMNames(pool, "idle-0", "idle-1")
	})
})
