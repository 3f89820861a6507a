package functests

import (
	"context"
	"encoding/json"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	k8sv1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
)

// subresources is a REST client of subresources.kubevirt.io/v1 as the test's user.
func subresources() rest.Interface {
	cfg := rest.CopyConfig(restConfig)
	cfg.APIPath = "/apis"
	cfg.GroupVersion = &subresourcesv1.SchemeGroupVersion
	cfg.NegotiatedSerializer = clientgoscheme.Codecs.WithoutConversion()
	c, err := rest.RESTClientFor(cfg)
	Expect(err).NotTo(HaveOccurred())
	return c
}

// vmiSubresource GETs a VMI's subresource; errors keep virt-api's Status message (Do's
// Error decodes it, DoRaw's does not).
func vmiSubresource(ctx context.Context, ns, name, sub string) ([]byte, error) {
	res := subresources().Get().Namespace(ns).Resource("virtualmachineinstances").Name(name).SubResource(sub).Do(ctx)
	if err := res.Error(); err != nil {
		return nil, err
	}
	return res.Raw()
}

var _ = Describe("The guest agent (virt-launcher, virt-handler, virt-api)", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		installHypernest(ctx)
	})

	It("reports AgentConnected, the guest's OS and addresses, and answers guestosinfo", func(ctx SpecContext) {
		ns := newTestNamespace()
		vmi := exampleVMI("vmi-nocloud.yaml")
		vmi.Name = "vmi-agent"
		startVMI(ctx, ns, vmi)
		var got *v1.VirtualMachineInstance
		Eventually(func(g Gomega) {
			got = &v1.VirtualMachineInstance{}
			g.Expect(crClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: vmi.Name}, got)).To(Succeed())
			g.Expect(condition(got, v1.VirtualMachineInstanceAgentConnected)).To(Equal(k8sv1.ConditionTrue), "conditions: %v", got.Status.Conditions)
			g.Expect(got.Status.GuestOSInfo.ID).To(Equal("hypernest-demo"))
			g.Expect(got.Status.Interfaces).To(HaveLen(1))
			g.Expect(got.Status.Interfaces[0].InterfaceName).To(Equal("eth0"))
			g.Expect(got.Status.Interfaces[0].InfoSource).To(Equal("domain, guest-agent"))
		}).WithContext(ctx).WithTimeout(vmiTimeout).WithPolling(2 * time.Second).Should(Succeed())
		Expect(got.Status.GuestOSInfo.PrettyName).To(ContainSubstring("Hypernest demo guest"))
		Expect(got.Status.GuestOSInfo.KernelRelease).To(HavePrefix("6.1."))

		By("GET .../guestosinfo, as virtctl guestosinfo does")
		data, err := vmiSubresource(ctx, ns, vmi.Name, "guestosinfo")
		Expect(err).NotTo(HaveOccurred())
		info := &v1.VirtualMachineInstanceGuestAgentInfo{}
		Expect(json.Unmarshal(data, info)).To(Succeed())
		Expect(info.GAVersion).NotTo(BeEmpty())
		Expect(info.OS.ID).To(Equal("hypernest-demo"))
		Expect(info.Hostname).NotTo(BeEmpty())
		Expect(info.SupportedCommands).To(ContainElement(v1.GuestAgentCommandInfo{Name: "guest-file-open", Enabled: true}))

		By("bootstrapstatus is refused, naming its gate, while GuestAgentBootstrapCheck is off")
		_, err = vmiSubresource(ctx, ns, vmi.Name, "bootstrapstatus")
		Expect(apierrors.IsBadRequest(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("GuestAgentBootstrapCheck"))

		By("with the gate on, it reads Cluster API's sentinel through the agent: absent in the demo guest")
		enableFeatureGate(ctx, clusterconfig.GuestAgentBootstrapCheck)
		Eventually(func(g Gomega) {
			data, err := vmiSubresource(ctx, ns, vmi.Name, "bootstrapstatus")
			g.Expect(err).NotTo(HaveOccurred())
			status := &subresourcesv1.BootstrapStatus{}
			g.Expect(json.Unmarshal(data, status)).To(Succeed())
			g.Expect(status.SentinelPath).To(Equal(subresourcesv1.BootstrapSentinelPath))
			g.Expect(status.Succeeded).To(BeFalse())
			g.Expect(status.Message).To(ContainSubstring("does not exist"))
		}).WithContext(ctx).WithTimeout(apiTimeout).WithPolling(time.Second).Should(Succeed())
	})
})
