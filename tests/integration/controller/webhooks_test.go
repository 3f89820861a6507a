package controller_test

import (
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/defaults"
	migrationsv1alpha1 "github.com/hypernest/hypernest/api/migrations/v1alpha1"
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

var _ = Describe("virt-api's MigrationPolicy validator", func() {
	It("refuses the settings Hypernest's migrations cannot honour, naming the field, and stores the rest", func(ctx SpecContext) {
		bad := &migrationsv1alpha1.MigrationPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "post-copy"},
			Spec: migrationsv1alpha1.MigrationPolicySpec{Selectors: &migrationsv1alpha1.Selectors{},
				AllowPostCopy: ptr.To(true), CompletionTimeoutPerGiB: ptr.To[int64](-1)},
		}
		err := k8sClient.Create(ctx, bad)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "want 422 Invalid, got %v", err)
		Expect(err.Error()).To(ContainSubstring(`admission webhook "migration-policy-validator.kubevirt.io" denied the request`))
		Expect(err.Error()).To(ContainSubstring("spec.allowPostCopy"))
		Expect(err.Error()).To(ContainSubstring("spec.completionTimeoutPerGiB"))

		good := &migrationsv1alpha1.MigrationPolicy{
			ObjectMeta: metav1.ObjectMeta{Name: "slow-lane"},
			Spec: migrationsv1alpha1.MigrationPolicySpec{
				Selectors:             &migrationsv1alpha1.Selectors{NamespaceSelector: migrationsv1alpha1.LabelSelector{"lane": "slow"}},
				BandwidthPerMigration: ptr.To(resource.MustParse("64Mi")), AllowPostCopy: ptr.To(false),
			},
		}
		Expect(k8sClient.Create(ctx, good)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(k8sClient.Delete(ctx, good)).To(Succeed()) })
	})
})
