package functests

import (
	"context"
	"os/exec"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	appsv1 "k8s.io/api/apps/v1"
	k8sv1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
	hnscheme "github.com/hypernest/hypernest/api/scheme"
)

var _ = Describe("Instance types and preferences (virt-api, virt-controller)", Ordered, func() {
	BeforeAll(func(ctx SpecContext) { installHypernest(ctx) })

	It("sizes KubeVirt's vm-cirros.yaml from a cluster instance type and a preference, pins them in ControllerRevisions, and refuses conflicts naming the field", func(ctx SpecContext) {
		ns := newTestNamespace()
		it := &itv1.VirtualMachineClusterInstancetype{
			ObjectMeta: metav1.ObjectMeta{Name: "hn-functest-" + ns},
			Spec: itv1.VirtualMachineInstancetypeSpec{
				CPU:         itv1.CPUInstancetype{Guest: 2},
				Memory:      itv1.MemoryInstancetype{Guest: resource.MustParse("160Mi")},
				Annotations: map[string]string{"hypernest.io/size": "small"},
			},
		}
		Expect(crClient.Create(ctx, it)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(crClient.Delete(ctx, it))).To(Succeed()) })
		pref := &itv1.VirtualMachinePreference{
			ObjectMeta: metav1.ObjectMeta{Name: "cores", Namespace: ns},
			Spec: itv1.VirtualMachinePreferenceSpec{
				CPU:     &itv1.CPUPreferences{PreferredCPUTopology: ptr.To(itv1.Cores)},
				Devices: &itv1.DevicePreferences{PreferredRng: &v1.Rng{}},
				Requirements: &itv1.PreferenceRequirements{
					CPU: &itv1.CPUPreferenceRequirement{Guest: 2}, Memory: &itv1.MemoryPreferenceRequirement{Guest: resource.MustParse("128Mi")},
				},
			},
		}
		Expect(crClient.Create(ctx, pref)).To(Succeed())

		By("vm-cirros.yaml without its own memory, naming the instance type and the preference, runs")
		vm := exampleVM("vm-cirros.yaml")
		vm.Namespace = ns
		vm.Spec.Template.Spec.Domain.Memory = nil
		vm.Spec.RunStrategy = ptr.To(v1.RunStrategyAlways)
		vm.Spec.Instancetype = &v1.InstancetypeMatcher{Name: it.Name}
		vm.Spec.Preference = &v1.PreferenceMatcher{Name: pref.Name, Kind: itv1.VirtualMachinePreferenceKind}
		Expect(crClient.Create(ctx, vm)).To(Succeed())
		waitForRunningVMI(ctx, ns, vm.Name, "")

		vmi := &v1.VirtualMachineInstance{}
		Expect(crClient.Get(ctx, client.ObjectKeyFromObject(vm), vmi)).To(Succeed())
		Expect(vmi.Spec.Domain.CPU.Cores).To(BeEquivalentTo(2), "the preference lays the 2 vCPUs out as cores")
		Expect(vmi.Spec.Domain.CPU.Sockets).To(BeEquivalentTo(1))
		Expect(vmi.Spec.Domain.Memory.Guest.String()).To(Equal("160Mi"))
		Expect(vmi.Spec.Domain.Devices.Rng).NotTo(BeNil())
		Expect(vmi.Annotations).To(HaveKeyWithValue(v1.ClusterInstancetypeAnnotation, it.Name))
		Expect(vmi.Annotations).To(HaveKeyWithValue(v1.PreferenceAnnotation, pref.Name))
		Expect(vmi.Annotations).To(HaveKeyWithValue("hypernest.io/size", "small"))

		By("the VM's status names the ControllerRevisions that pin both, owned by the VM")
		got := &v1.VirtualMachine{}
		Expect(crClient.Get(ctx, client.ObjectKeyFromObject(vm), got)).To(Succeed())
		Expect(got.Status.InstancetypeRef).NotTo(BeNil())
		Expect(got.Status.InstancetypeRef.Kind).To(Equal(itv1.VirtualMachineClusterInstancetypeKind))
		Expect(got.Status.PreferenceRef).NotTo(BeNil())
		for _, ref := range []*v1.InstancetypeStatusRef{got.Status.InstancetypeRef, got.Status.PreferenceRef} {
			Expect(ref.ControllerRevisionRef).NotTo(BeNil())
			rev := &appsv1.ControllerRevision{}
			Expect(crClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: ref.ControllerRevisionRef.Name}, rev)).To(Succeed())
			Expect(rev.Labels).To(HaveKeyWithValue("instancetype.kubevirt.io/object-name", ref.Name))
			Expect(metav1.IsControlledBy(rev, got)).To(BeTrue())
		}
		Expect(got.Status.InstancetypeRef.ControllerRevisionRef.Name).To(HavePrefix(vm.Name + "-" + it.Name + "-v1beta1-"))

		By("a bigger instance type does not change the VM: its restarted guest keeps the pinned size")
		Eventually(func(g Gomega) {
			cur := &itv1.VirtualMachineClusterInstancetype{}
			g.Expect(crClient.Get(ctx, client.ObjectKeyFromObject(it), cur)).To(Succeed())
			cur.Spec.Memory.Guest = resource.MustParse("256Mi")
			g.Expect(crClient.Update(ctx, cur)).To(Succeed())
		}).WithContext(ctx).WithTimeout(apiTimeout).Should(Succeed())
		Expect(crClient.Delete(ctx, vmi)).To(Succeed())
		waitForRunningVMI(ctx, ns, vm.Name, vmi.UID)
		restarted := &v1.VirtualMachineInstance{}
		Expect(crClient.Get(ctx, client.ObjectKeyFromObject(vm), restarted)).To(Succeed())
		Expect(restarted.Spec.Domain.Memory.Guest.String()).To(Equal("160Mi"))

		By("a VM that sets what the instance type decides is refused, naming the field")
		conflicting := exampleVM("vm-cirros.yaml")
		conflicting.Namespace, conflicting.Name = ns, "conflicting"
		conflicting.Spec.Instancetype = &v1.InstancetypeMatcher{Name: it.Name}
		err := crClient.Create(ctx, conflicting)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.template.spec.domain.memory.guest: Forbidden"))
		Expect(err.Error()).To(ContainSubstring("conflicts with selected instance type"))

		By("a preference that asks for more than the instance type gives is refused")
		greedy := exampleVM("vm-cirros.yaml")
		greedy.Namespace, greedy.Name = ns, "greedy"
		greedy.Spec.Template.Spec.Domain.Memory = nil
		greedy.Spec.Instancetype = &v1.InstancetypeMatcher{Name: it.Name}
		greedy.Spec.Preference = &v1.PreferenceMatcher{Name: "needs-four", Kind: itv1.VirtualMachinePreferenceKind}
		Expect(crClient.Create(ctx, &itv1.VirtualMachinePreference{
			ObjectMeta: metav1.ObjectMeta{Name: "needs-four", Namespace: ns},
			Spec:       itv1.VirtualMachinePreferenceSpec{Requirements: &itv1.PreferenceRequirements{CPU: &itv1.CPUPreferenceRequirement{Guest: 4}}},
		})).To(Succeed())
		err = crClient.Create(ctx, greedy)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.instancetype: Forbidden: failure checking preference requirements: insufficient CPU resources of 2 vCPU provided by instance type, preference requires 4 vCPU"))

		By("a VM naming an instance type that does not exist is accepted and waits for it, with KubeVirt's Failure reason")
		waiting := exampleVM("vm-cirros.yaml")
		waiting.Namespace, waiting.Name = ns, "waiting"
		waiting.Spec.Template.Spec.Domain.Memory = nil
		waiting.Spec.RunStrategy = ptr.To(v1.RunStrategyAlways)
		waiting.Spec.Instancetype = &v1.InstancetypeMatcher{Name: "hn-functest-missing"}
		Expect(crClient.Create(ctx, waiting)).To(Succeed())
		Eventually(func(g Gomega) {
			cur := &v1.VirtualMachine{}
			g.Expect(crClient.Get(ctx, client.ObjectKeyFromObject(waiting), cur)).To(Succeed())
			c := v1.VMCondition(&cur.Status, v1.VirtualMachineFailure)
			g.Expect(c).NotTo(BeNil(), "status: %s", toJSON(cur.Status))
			g.Expect(c.Status).To(Equal(k8sv1.ConditionTrue))
			g.Expect(c.Reason).To(Equal("FailedFindInstancetype"))
			g.Expect(c.Message).To(ContainSubstring(`"hn-functest-missing" not found`))
		}).WithContext(ctx).WithTimeout(apiTimeout).WithPolling(time.Second).Should(Succeed())
		Consistently(func() error {
			return crClient.Get(ctx, client.ObjectKeyFromObject(waiting), &v1.VirtualMachineInstance{})
		}).WithContext(ctx).WithTimeout(5 * time.Second).Should(Satisfy(apierrors.IsNotFound))

		By("virtctl create vm --instancetype --preference --volume-containerdisk prints a VM that virt-api accepts")
		virtctl, err := buildVirtctl()
		Expect(err).NotTo(HaveOccurred())
		session, err := gexec.Start(exec.Command(virtctl, "-n", ns, "create", "vm", "--name", "from-virtctl",
			"--instancetype", it.Name, "--preference", "virtualmachinepreference/"+pref.Name,
			"--volume-containerdisk", "src:"+vm.Spec.Template.Spec.Volumes[0].ContainerDisk.Image), GinkgoWriter, GinkgoWriter)
		Expect(err).NotTo(HaveOccurred())
		Eventually(session).WithTimeout(time.Minute).Should(gexec.Exit(0))
		obj, _, err := hnscheme.StrictDecoder().Decode(session.Out.Contents(), nil, nil)
		Expect(err).NotTo(HaveOccurred(), "virtctl's manifest: %s", session.Out.Contents())
		printed := obj.(*v1.VirtualMachine)
		Expect(printed.Namespace).To(Equal(ns))
		Expect(printed.Spec.Template.Spec.Domain.Memory).To(BeNil(), "the instance type gives the memory")
		Expect(crClient.Create(ctx, printed, client.DryRunAll)).To(Succeed())

		By("a preference for what Hypernest cannot run is refused when it is created, naming the field")
		err = crClient.Create(ctx, &itv1.VirtualMachinePreference{
			ObjectMeta: metav1.ObjectMeta{Name: "sound", Namespace: ns},
			Spec:       itv1.VirtualMachinePreferenceSpec{Devices: &itv1.DevicePreferences{PreferredSoundModel: "ich9"}},
		})
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "got %v", err)
		Expect(err.Error()).To(ContainSubstring("spec.devices.preferredSoundModel: Forbidden: a sound device is not supported by Hypernest yet"))
		deleteVMAndWait(ctx, vm)
	})
})

// deleteVMAndWait deletes a VM and waits until it and its VMI are gone.
func deleteVMAndWait(ctx context.Context, vm *v1.VirtualMachine) {
	Expect(client.IgnoreNotFound(crClient.Delete(ctx, vm))).To(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(apierrors.IsNotFound(crClient.Get(ctx, client.ObjectKeyFromObject(vm), &v1.VirtualMachine{}))).To(BeTrue())
		g.Expect(apierrors.IsNotFound(crClient.Get(ctx, client.ObjectKeyFromObject(vm), &v1.VirtualMachineInstance{}))).To(BeTrue())
	}).WithContext(ctx).WithTimeout(vmiTimeout).WithPolling(time.Second).Should(Succeed())
}
