package controller_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/defaults"
)

// The suite serves virt-api's webhooks to envtest's apiserver; this shows they are in
// the path of what the specs and the controllers write.
var _ = Describe("virt-api's webhooks in front of the controllers", func() {
	It("refuse a replica set whose template virt-api refuses, naming the field, and default the VMIs the controller creates", func(ctx SpecContext) {
		ns := newNamespace()

		By("a template with two disks of one name: refused, nothing stored")
		bad := newReplicaSet(ns, "bad", 1)
		disk := kubevirtv1.Disk{Name: "root", DiskDevice: kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: kubevirtv1.DiskBusVirtio}}}
		bad.Spec.Template.Spec.Domain.Devices.Disks = []kubevirtv1.Disk{disk, disk}
		err := k8sClient.Create(ctx, bad)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got %v", err)
		Expect(err.Error()).To(ContainSubstring(`admission webhook "virtualmachineinstancereplicasets-validator.kubevirt.io" denied the request`))
		Expect(err.Error()).To(ContainSubstring("spec.template.spec.domain.devices.disks[1].name"))

		By("a good one: its VMI is stored as virt-api's mutating webhook completed it")
		rs := newReplicaSet(ns, "good", 1)
		Expect(rs.Spec.Template.Spec.Domain.Machine).To(BeNil())
		Expect(k8sClient.Create(ctx, rs)).To(Succeed())
		vmis := waitForVMIs(rs, 1)
		Expect(vmis[0].Spec.Domain.Machine).NotTo(BeNil())
		Expect(vmis[0].Spec.Domain.Machine.Type).To(Equal(defaults.DefaultMachineType))
		Expect(strings.HasPrefix(vmis[0].Name, "good")).To(BeTrue())
	})
})
