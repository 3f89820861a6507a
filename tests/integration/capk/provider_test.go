package capk_test

import (
	"context"
	"fmt"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/utils/ptr"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/cluster-api/util/conditions"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	infrav1 "github.com/hypernest/hypernest/api/infrastructure/v1alpha1"
	"github.com/hypernest/hypernest/components/capk-manager/controllers"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
)

// newCluster makes a Cluster and its KubevirtCluster, owned by it as Cluster API's
// Cluster controller leaves them.
func newCluster(ctx context.Context, ns, name string, mutate func(*infrav1.KubevirtCluster)) (*clusterv1.Cluster, *infrav1.KubevirtCluster) {
	cluster := &clusterv1.Cluster{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: clusterv1.ClusterSpec{InfrastructureRef: clusterv1.ContractVersionedObjectReference{
			APIGroup: infrav1.GroupName, Kind: "KubevirtCluster", Name: name,
		}},
	}
	Expect(k8sClient.Create(ctx, cluster)).To(Succeed())
	kc := &infrav1.KubevirtCluster{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: ns,
		Labels:          map[string]string{clusterv1.ClusterNameLabel: name},
		OwnerReferences: []metav1.OwnerReference{{APIVersion: clusterv1.GroupVersion.String(), Kind: "Cluster", Name: name, UID: cluster.UID}},
	}}
	if mutate != nil {
		mutate(kc)
	}
	Expect(k8sClient.Create(ctx, kc)).To(Succeed())
	return cluster, kc
}

// provisionedCluster is a cluster whose KubevirtCluster the provider provisioned, with
// Cluster API's Cluster controller's part done by hand (infrastructure provisioned).
func provisionedCluster(ctx context.Context, ns, name string) (*clusterv1.Cluster, *infrav1.KubevirtCluster) {
	cluster, kc := newCluster(ctx, ns, name, nil)
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(kc), kc)).To(Succeed())
		g.Expect(kc.Status.Initialization).NotTo(BeNil())
		g.Expect(kc.Status.Initialization.Provisioned).To(Equal(ptr.To(true)))
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
		cluster.Status.Initialization.InfrastructureProvisioned = ptr.To(true)
		cluster.Status.Initialization.ControlPlaneInitialized = ptr.To(true)
		g.Expect(k8sClient.Status().Update(ctx, cluster)).To(Succeed())
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	return cluster, kc
}

// machineTemplate is the VM template of CAPK's cluster-template.yaml, shrunk for tests.
func machineSpec(strategy string) infrav1.KubevirtMachineSpec {
	return infrav1.KubevirtMachineSpec{
		BootstrapCheckSpec: infrav1.VirtualMachineBootstrapCheckSpec{CheckStrategy: strategy},
		VirtualMachineTemplate: infrav1.VirtualMachineTemplateSpec{Spec: kubevirtv1.VirtualMachineSpec{
			RunStrategy: ptr.To(kubevirtv1.RunStrategyAlways),
			Template: &kubevirtv1.VirtualMachineInstanceTemplateSpec{Spec: kubevirtv1.VirtualMachineInstanceSpec{
				Domain: kubevirtv1.DomainSpec{
					CPU:    &kubevirtv1.CPU{Cores: 2},
					Memory: &kubevirtv1.Memory{Guest: ptr.To(resource.MustParse("1Gi"))},
					Devices: kubevirtv1.Devices{Disks: []kubevirtv1.Disk{{Name: "containervolume",
						DiskDevice: kubevirtv1.DiskDevice{Disk: &kubevirtv1.DiskTarget{Bus: kubevirtv1.DiskBusVirtio}}}}},
				},
				Volumes: []kubevirtv1.Volume{{Name: "containervolume", VolumeSource: kubevirtv1.VolumeSource{
					ContainerDisk: &kubevirtv1.ContainerDiskSource{Image: "registry:5000/kubevirt/cirros-container-disk-demo:devel"}}}},
			}},
		}},
	}
}

// newMachine makes a Machine (with its bootstrap data Secret when data is given) and its
// KubevirtMachine, linked as Cluster API's Machine controller links them.
func newMachine(ctx context.Context, cluster *clusterv1.Cluster, name string, controlPlane bool, spec infrav1.KubevirtMachineSpec, data string) (*clusterv1.Machine, *infrav1.KubevirtMachine) {
	labels := map[string]string{clusterv1.ClusterNameLabel: cluster.Name}
	if controlPlane {
		labels[clusterv1.MachineControlPlaneLabel] = ""
	}
	machine := &clusterv1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cluster.Namespace, Labels: labels},
		Spec: clusterv1.MachineSpec{
			ClusterName:       cluster.Name,
			Bootstrap:         clusterv1.Bootstrap{DataSecretName: ptr.To(name + "-bootstrap")},
			InfrastructureRef: clusterv1.ContractVersionedObjectReference{APIGroup: infrav1.GroupName, Kind: "KubevirtMachine", Name: name},
		},
	}
	if data == "" {
		machine.Spec.Bootstrap.DataSecretName = nil
		machine.Spec.Bootstrap.ConfigRef = clusterv1.ContractVersionedObjectReference{APIGroup: "bootstrap.cluster.x-k8s.io", Kind: "KubeadmConfig", Name: name}
	} else {
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: name + "-bootstrap", Namespace: cluster.Namespace, Labels: labels},
			Type:       clusterv1.ClusterSecretType,
			Data:       map[string][]byte{"value": []byte(data), "format": []byte("cloud-config")},
		})).To(Succeed())
	}
	Expect(k8sClient.Create(ctx, machine)).To(Succeed())
	km := &infrav1.KubevirtMachine{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cluster.Namespace, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: clusterv1.GroupVersion.String(), Kind: "Machine", Name: name, UID: machine.UID}}},
		Spec: spec,
	}
	Expect(k8sClient.Create(ctx, km)).To(Succeed())
	return machine, km
}

func getMachine(ctx context.Context, g Gomega, km *infrav1.KubevirtMachine) *infrav1.KubevirtMachine {
	got := &infrav1.KubevirtMachine{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(km), got)).To(Succeed())
	return got
}

// expectCondition waits until the machine's condition has the status and reason.
func expectCondition(ctx context.Context, km *infrav1.KubevirtMachine, condType string, status metav1.ConditionStatus, reason string) *infrav1.KubevirtMachine {
	var got *infrav1.KubevirtMachine
	Eventually(func(g Gomega) {
		got = getMachine(ctx, g, km)
		c := conditions.Get(got, condType)
		g.Expect(c).NotTo(BeNil(), "condition %s", condType)
		g.Expect(c.Status).To(Equal(status), "condition %s: %s", condType, c.Message)
		g.Expect(c.Reason).To(Equal(reason), "condition %s: %s", condType, c.Message)
	}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	return got
}

// runVMI does for a VM what virt-controller and virt-handler do on a real cluster:
// creates its VMI from the template and reports it Running and Ready at ip.
func runVMI(ctx context.Context, vm *kubevirtv1.VirtualMachine, ip string) *kubevirtv1.VirtualMachineInstance {
	vmi := &kubevirtv1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{Name: vm.Name, Namespace: vm.Namespace, Labels: vm.Spec.Template.ObjectMeta.Labels},
		Spec:       vm.Spec.Template.Spec,
	}
	Expect(k8sClient.Create(ctx, vmi)).To(Succeed())
	vmi.Status.Phase = kubevirtv1.Running
	vmi.Status.Conditions = []kubevirtv1.VirtualMachineInstanceCondition{{Type: kubevirtv1.VirtualMachineInstanceReady, Status: corev1.ConditionTrue}}
	vmi.Status.Interfaces = []kubevirtv1.VirtualMachineInstanceNetworkInterface{{Name: "default", IP: ip, IPs: []string{ip}}}
	Expect(k8sClient.Status().Update(ctx, vmi)).To(Succeed())
	return vmi
}

func getVM(ctx context.Context, g Gomega, ns, name string) *kubevirtv1.VirtualMachine {
	vm := &kubevirtv1.VirtualMachine{}
	g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, vm)).To(Succeed())
	return vm
}

// nestedKubeconfig writes the kubeconfig Secret Cluster API keeps for the nested cluster
// of the Cluster name (<name>-kubeconfig, key "value"); the test apiserver stands in for
// the nested cluster.
func nestedKubeconfig(ctx context.Context, ns, name string) {
	kubeconfig, err := clientcmd.Write(clientcmdapi.Config{
		Clusters:       map[string]*clientcmdapi.Cluster{"nested": {Server: restConfig.Host, CertificateAuthorityData: restConfig.CAData}},
		AuthInfos:      map[string]*clientcmdapi.AuthInfo{"admin": {ClientCertificateData: restConfig.CertData, ClientKeyData: restConfig.KeyData}},
		Contexts:       map[string]*clientcmdapi.Context{"nested": {Cluster: "nested", AuthInfo: "admin"}},
		CurrentContext: "nested",
	})
	Expect(err).NotTo(HaveOccurred())
	Expect(k8sClient.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-kubeconfig", Namespace: ns},
		Data: map[string][]byte{"value": kubeconfig}})).To(Succeed())
}

const cloudConfig = "#cloud-config\n# kubeadm's bootstrap data, shortened\nruncmd:\n  - echo hello\n"

var _ = Describe("KubevirtCluster", func() {
	It("gets a control-plane Service and endpoint, SSH keys, and is provisioned", func(ctx SpecContext) {
		ns := newNamespace()
		_, kc := newCluster(ctx, ns, "alpha", nil)
		svc := &corev1.Service{}
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "alpha-lb"}, svc)).To(Succeed())
			g.Expect(svc.Spec.ClusterIP).NotTo(BeEmpty())
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(kc), kc)).To(Succeed())
			g.Expect(kc.Status.Initialization).NotTo(BeNil())
			g.Expect(kc.Status.Initialization.Provisioned).To(Equal(ptr.To(true)))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Expect(svc.Spec.Type).To(Equal(corev1.ServiceTypeClusterIP))
		Expect(svc.Spec.Selector).To(Equal(map[string]string{"cluster.x-k8s.io/cluster-name": "alpha", "cluster.x-k8s.io/role": "control-plane"}))
		Expect(svc.Spec.Ports).To(HaveLen(1))
		Expect(svc.Spec.Ports[0].Port).To(BeEquivalentTo(6443))
		Expect(svc.Spec.Ports[0].TargetPort.IntValue()).To(Equal(6443))
		Expect(kc.Spec.ControlPlaneEndpoint).To(Equal(infrav1.APIEndpoint{Host: svc.Spec.ClusterIP, Port: 6443}))
		Expect(kc.Status.Ready).To(BeTrue())
		Expect(conditions.IsTrue(kc, infrav1.LoadBalancerAvailableCondition)).To(BeTrue())
		Expect(conditions.IsTrue(kc, infrav1.ReadyCondition)).To(BeTrue())
		Expect(kc.Finalizers).To(ContainElement(infrav1.ClusterFinalizer))
		keys := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "alpha-ssh-keys"}, keys)).To(Succeed())
		Expect(string(keys.Data["pub"])).To(HavePrefix("ssh-ed25519 "))
		Expect(string(keys.Data["key"])).To(ContainSubstring("OPENSSH PRIVATE KEY"))
		Expect(kc.Spec.SshKeys.DataSecretName).To(Equal(ptr.To("alpha-ssh-keys")))

		By("deletion removes the Service, then the KubevirtCluster")
		Expect(k8sClient.Delete(ctx, kc)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(kc), &infrav1.KubevirtCluster{}))).To(BeTrue())
			err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "alpha-lb"}, &corev1.Service{})
			// envtest runs no garbage collector: the Service is deleted by the provider.
			g.Expect(apierrors.IsNotFound(err) || svcDeleting(ctx, ns, "alpha-lb")).To(BeTrue())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})

	It("waits for a LoadBalancer's address and takes it as the endpoint", func(ctx SpecContext) {
		ns := newNamespace()
		_, kc := newCluster(ctx, ns, "beta", func(kc *infrav1.KubevirtCluster) {
			kc.Spec.ControlPlaneServiceTemplate.Spec.Type = corev1.ServiceTypeLoadBalancer
			kc.Spec.ControlPlaneServiceTemplate.ObjectMeta.Labels = map[string]string{"team": "platform"}
		})
		var svc corev1.Service
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "beta-lb"}, &svc)).To(Succeed())
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(kc), kc)).To(Succeed())
			c := conditions.Get(kc, infrav1.LoadBalancerAvailableCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Reason).To(Equal(infrav1.LoadBalancerWaitingForAddressReason))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Expect(svc.Spec.Type).To(Equal(corev1.ServiceTypeLoadBalancer))
		Expect(svc.Labels).To(HaveKeyWithValue("team", "platform"))
		Expect(kc.Status.Ready).To(BeFalse())
		Expect(kc.Spec.ControlPlaneEndpoint.Host).To(BeEmpty())

		svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "203.0.113.7"}}
		Expect(k8sClient.Status().Update(ctx, &svc)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(kc), kc)).To(Succeed())
			g.Expect(kc.Spec.ControlPlaneEndpoint).To(Equal(infrav1.APIEndpoint{Host: "203.0.113.7", Port: 6443}))
			g.Expect(kc.Status.Ready).To(BeTrue())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})

	It("leaves a paused cluster alone", func(ctx SpecContext) {
		ns := newNamespace()
		cluster := &clusterv1.Cluster{
			ObjectMeta: metav1.ObjectMeta{Name: "paused", Namespace: ns},
			Spec: clusterv1.ClusterSpec{Paused: ptr.To(true), InfrastructureRef: clusterv1.ContractVersionedObjectReference{
				APIGroup: infrav1.GroupName, Kind: "KubevirtCluster", Name: "paused"}},
		}
		Expect(k8sClient.Create(ctx, cluster)).To(Succeed())
		kc := &infrav1.KubevirtCluster{ObjectMeta: metav1.ObjectMeta{Name: "paused", Namespace: ns,
			Labels:          map[string]string{clusterv1.ClusterNameLabel: "paused"},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: clusterv1.GroupVersion.String(), Kind: "Cluster", Name: "paused", UID: cluster.UID}}}}
		Expect(k8sClient.Create(ctx, kc)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(kc), kc)).To(Succeed())
			g.Expect(conditions.IsTrue(kc, clusterv1.PausedCondition)).To(BeTrue())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Consistently(func(g Gomega) {
			err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "paused-lb"}, &corev1.Service{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "a paused cluster gets no Service")
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(kc), kc)).To(Succeed())
			g.Expect(kc.Finalizers).To(BeEmpty())
		}).WithTimeout(3 * time.Second).WithPolling(interval).Should(Succeed())

		By("unpausing: the provider takes over")
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
		cluster.Spec.Paused = ptr.To(false)
		Expect(k8sClient.Update(ctx, cluster)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "paused-lb"}, &corev1.Service{})).To(Succeed())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})

	It("refuses a bad endpoint and an endpoint change, naming the field", func(ctx SpecContext) {
		ns := newNamespace()
		bad := &infrav1.KubevirtCluster{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: ns},
			Spec: infrav1.KubevirtClusterSpec{ControlPlaneEndpoint: infrav1.APIEndpoint{Host: "10.0.0.1", Port: 70000}}}
		err := k8sClient.Create(ctx, bad)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("spec.controlPlaneEndpoint.port: Invalid value: 70000"))

		_, kc := provisionedCluster(ctx, ns, "gamma")
		// The controller may still be patching kc's status after the Cluster's change: a
		// resourceVersion conflict is answered before validation, so read again and retry
		// until the apiserver answers on the change itself.
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(kc), kc)).To(Succeed())
			kc.Spec.ControlPlaneEndpoint.Host = "198.51.100.1"
			err := k8sClient.Update(ctx, kc)
			g.Expect(apierrors.IsConflict(err)).To(BeFalse(), "%v", err)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
			g.Expect(err.Error()).To(ContainSubstring("spec.controlPlaneEndpoint: Forbidden: is immutable once set"))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})
})

func svcDeleting(ctx context.Context, ns, name string) bool {
	svc := &corev1.Service{}
	return k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, svc) == nil && !svc.DeletionTimestamp.IsZero()
}

var _ = Describe("KubevirtMachine", func() {
	It("waits for the cluster's infrastructure and the bootstrap data, then makes the VM, checks the bootstrap over SSH and is provisioned", func(ctx SpecContext) {
		ns := newNamespace()
		cluster, _ := newCluster(ctx, ns, "delta", nil)
		machine, km := newMachine(ctx, cluster, "delta-cp-1", true, machineSpec(""), "")
		expectCondition(ctx, km, infrav1.VMProvisionedCondition, metav1.ConditionFalse, infrav1.WaitingForClusterInfrastructureReason)

		By("the Cluster's infrastructure is provisioned: the machine waits for its bootstrap data")
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(cluster), cluster)).To(Succeed())
			cluster.Status.Initialization.InfrastructureProvisioned = ptr.To(true)
			g.Expect(k8sClient.Status().Update(ctx, cluster)).To(Succeed())
		}).WithTimeout(timeout).Should(Succeed())
		expectCondition(ctx, km, infrav1.VMProvisionedCondition, metav1.ConditionFalse, infrav1.WaitingForBootstrapDataReason)
		Expect(k8sClient.List(ctx, &kubevirtv1.VirtualMachineList{}, client.InNamespace(ns))).To(Succeed())

		By("the bootstrap provider writes the data: the VM is made with it as a ConfigDrive volume")
		Expect(k8sClient.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "delta-cp-1-bootstrap", Namespace: ns, Labels: map[string]string{clusterv1.ClusterNameLabel: "delta"}},
			Type:       clusterv1.ClusterSecretType,
			Data:       map[string][]byte{"value": []byte(cloudConfig)},
		})).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(machine), machine)).To(Succeed())
			machine.Spec.Bootstrap.DataSecretName = ptr.To("delta-cp-1-bootstrap")
			g.Expect(k8sClient.Update(ctx, machine)).To(Succeed())
		}).WithTimeout(timeout).Should(Succeed())
		var vm *kubevirtv1.VirtualMachine
		Eventually(func(g Gomega) { vm = getVM(ctx, g, ns, "delta-cp-1") }).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Expect(vm.Labels).To(And(HaveKeyWithValue("cluster.x-k8s.io/role", "control-plane"), HaveKeyWithValue("cluster.x-k8s.io/cluster-name", "delta"),
			HaveKeyWithValue(infrav1.KubevirtMachineNameLabel, "delta-cp-1"), HaveKeyWithValue(infrav1.KubevirtMachineNamespaceLabel, ns)))
		Expect(vm.Spec.Template.ObjectMeta.Labels).To(And(HaveKeyWithValue("cluster.x-k8s.io/role", "control-plane"), HaveKeyWithValue("cluster.x-k8s.io/cluster-name", "delta")))
		Expect(vm.Spec.Template.Spec.Hostname).To(Equal("delta-cp-1"))
		vol := vm.Spec.Template.Spec.Volumes[len(vm.Spec.Template.Spec.Volumes)-1]
		Expect(vol.Name).To(Equal("cloudinitvolume"))
		Expect(vol.CloudInitConfigDrive).NotTo(BeNil())
		Expect(vol.CloudInitConfigDrive.UserDataSecretRef.Name).To(Equal("delta-cp-1-bootstrap-userdata"))
		Expect(vm.Spec.Template.Spec.Domain.Devices.Disks).To(ContainElement(HaveField("Name", "cloudinitvolume")))
		userdata := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "delta-cp-1-bootstrap-userdata"}, userdata)).To(Succeed())
		Expect(string(userdata.Data["userdata"])).To(HavePrefix("#cloud-config\n"))
		Expect(string(userdata.Data["userdata"])).To(And(ContainSubstring("runcmd:"), ContainSubstring("name: capk"), ContainSubstring("ssh-ed25519 ")))
		got := expectCondition(ctx, km, infrav1.VMProvisionedCondition, metav1.ConditionFalse, infrav1.VMNotReadyReason)
		Expect(got.Annotations).To(HaveKeyWithValue(controllers.VMUIDAnnotation, string(vm.UID)))
		Expect(got.Status.Ready).To(BeFalse())

		By("the VMI runs: addresses, provider ID; the SSH check logs in as capk and waits for the sentinel")
		keys := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "delta-ssh-keys"}, keys)).To(Succeed())
		sshGuest.authorize(keys.Data["pub"])
		runVMI(ctx, vm, "127.0.0.1")
		expectCondition(ctx, km, infrav1.BootstrapExecSucceededCondition, metav1.ConditionFalse, infrav1.BootstrappingReason)
		// The provider ID (spec) and the addresses (status) may land in a later reconcile
		// than the condition: wait for all of them.
		Eventually(func(g Gomega) {
			got = getMachine(ctx, g, km)
			g.Expect(conditions.IsTrue(got, infrav1.VMProvisionedCondition)).To(BeTrue())
			g.Expect(got.Spec.ProviderID).To(Equal(ptr.To("kubevirt://delta-cp-1")))
			g.Expect(got.Status.Addresses).To(ConsistOf(
				clusterv1.MachineAddress{Type: clusterv1.MachineHostName, Address: "delta-cp-1"},
				clusterv1.MachineAddress{Type: clusterv1.MachineInternalIP, Address: "127.0.0.1"},
				clusterv1.MachineAddress{Type: clusterv1.MachineExternalIP, Address: "127.0.0.1"},
				clusterv1.MachineAddress{Type: clusterv1.MachineInternalDNS, Address: "delta-cp-1"}))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Expect(got.Status.Ready).To(BeFalse())
		Expect(got.Status.Initialization == nil || got.Status.Initialization.Provisioned == nil || !*got.Status.Initialization.Provisioned).To(BeTrue())
		Expect(sshGuest.loginCount()).To(BeNumerically(">", 0), "the check logged in with the cluster's key")

		By("the guest writes the sentinel: the machine is provisioned")
		sshGuest.setSentinel(true)
		got = expectCondition(ctx, km, infrav1.BootstrapExecSucceededCondition, metav1.ConditionTrue, infrav1.BootstrapSucceededReason)
		Eventually(func(g Gomega) {
			got = getMachine(ctx, g, km)
			g.Expect(got.Status.Initialization).NotTo(BeNil())
			g.Expect(got.Status.Initialization.Provisioned).To(Equal(ptr.To(true)))
			g.Expect(got.Status.Ready).To(BeTrue())
			g.Expect(conditions.IsTrue(got, infrav1.ReadyCondition)).To(BeTrue())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

		By("deleting the machine removes its VM and bootstrap data")
		Expect(k8sClient.Delete(ctx, km)).To(Succeed())
		Eventually(func(g Gomega) {
			vm := &kubevirtv1.VirtualMachine{}
			err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "delta-cp-1"}, vm)
			if err == nil {
				g.Expect(vm.DeletionTimestamp).NotTo(BeNil(), "the VM is being deleted")
				// envtest runs no garbage collector to finish a foreground deletion; do
				// its part: the VMI goes, then the VM's foregroundDeletion finalizer.
				_ = k8sClient.Delete(ctx, &kubevirtv1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "delta-cp-1"}})
				vm.Finalizers = nil
				_ = k8sClient.Update(ctx, vm)
			}
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "the VM is gone")
			g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "delta-cp-1-bootstrap-userdata"}, &corev1.Secret{}))).To(BeTrue())
			g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(km), &infrav1.KubevirtMachine{}))).To(BeTrue())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})

	It("reads the sentinel through the guest agent, only with its feature gate on", func(ctx SpecContext) {
		ns := newNamespace()
		cluster, _ := provisionedCluster(ctx, ns, "epsilon")

		By("with the gate off, the webhook refuses checkStrategy guest-agent, naming the field and the gate")
		km := &infrav1.KubevirtMachine{ObjectMeta: metav1.ObjectMeta{Name: "refused", Namespace: ns}, Spec: machineSpec(infrav1.BootstrapCheckGuestAgent)}
		err := k8sClient.Create(ctx, km)
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("spec.virtualMachineBootstrapCheck.checkStrategy: Forbidden: checkStrategy guest-agent needs the GuestAgentBootstrapCheck feature gate"))

		By("with the gate on in the KubeVirt object, the machine's guest agent is asked")
		kv := &kubevirtv1.KubeVirt{ObjectMeta: metav1.ObjectMeta{Name: "kubevirt", Namespace: ns}}
		kv.Spec.Configuration.DeveloperConfiguration = &kubevirtv1.DeveloperConfiguration{FeatureGates: []string{clusterconfig.GuestAgentBootstrapCheck}}
		Expect(k8sClient.Create(ctx, kv)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(k8sClient.Delete(ctx, kv)).To(Succeed()) })
		var created *infrav1.KubevirtMachine
		Eventually(func() error {
			var err error
			// The webhook reads the KubeVirt object through the manager's cache.
			defer GinkgoRecover()
			_, created = newMachineOrErr(ctx, cluster, "epsilon-md-1", machineSpec(infrav1.BootstrapCheckGuestAgent), "#!/bin/sh\necho success > /run/cluster-api/bootstrap-success.complete\n", &err)
			return err
		}).WithTimeout(timeout).WithPolling(time.Second).Should(Succeed())
		var vm *kubevirtv1.VirtualMachine
		Eventually(func(g Gomega) { vm = getVM(ctx, g, ns, "epsilon-md-1") }).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Expect(vm.Labels).To(HaveKeyWithValue("cluster.x-k8s.io/role", "worker"))
		userdata := &corev1.Secret{}
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "epsilon-md-1-bootstrap-userdata"}, userdata)).To(Succeed())
		Expect(string(userdata.Data["userdata"])).To(Equal("#!/bin/sh\necho success > /run/cluster-api/bootstrap-success.complete\n"), "a script is passed on unchanged, with no capk user")
		before := guestAgent.asked()
		runVMI(ctx, vm, "10.244.0.9")
		expectCondition(ctx, created, infrav1.BootstrapExecSucceededCondition, metav1.ConditionFalse, infrav1.BootstrappingReason)
		Expect(guestAgent.asked()).To(BeNumerically(">", before))
		guestAgent.set(ns, "epsilon-md-1", true)
		expectCondition(ctx, created, infrav1.BootstrapExecSucceededCondition, metav1.ConditionTrue, infrav1.BootstrapSucceededReason)
		Eventually(func(g Gomega) {
			g.Expect(getMachine(ctx, g, created).Status.Ready).To(BeTrue())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})

	It("reports a VM deleted or stopped behind its back instead of making a new one", func(ctx SpecContext) {
		ns := newNamespace()
		cluster, _ := provisionedCluster(ctx, ns, "zeta")
		_, km := newMachine(ctx, cluster, "zeta-md-1", false, machineSpec(infrav1.BootstrapCheckNone), cloudConfig)
		var vm *kubevirtv1.VirtualMachine
		Eventually(func(g Gomega) { vm = getVM(ctx, g, ns, "zeta-md-1") }).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		runVMI(ctx, vm, "10.244.0.10")
		expectCondition(ctx, km, infrav1.BootstrapExecSucceededCondition, metav1.ConditionTrue, infrav1.BootstrapSucceededReason)

		By("stopping the VM (runStrategy Halted) behind the provider's back")
		Eventually(func(g Gomega) { // a conflict with the provider's own writes retries
			vm = getVM(ctx, g, ns, "zeta-md-1")
			vm.Spec.RunStrategy = ptr.To(kubevirtv1.RunStrategyHalted)
			g.Expect(k8sClient.Update(ctx, vm)).To(Succeed())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		expectCondition(ctx, km, infrav1.VMProvisionedCondition, metav1.ConditionFalse, infrav1.VMLostReason)
		Eventually(func(g Gomega) {
			// Conditions and the rest of the status are patched in two calls.
			got := getMachine(ctx, g, km)
			g.Expect(ptr.Deref(got.Status.FailureMessage, "")).To(ContainSubstring("stopped behind the provider's back"))
			g.Expect(got.Status.Ready).To(BeFalse())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

		By("deleting the VM behind the provider's back: reported, and no new VM")
		Expect(k8sClient.Delete(ctx, vm)).To(Succeed())
		expectCondition(ctx, km, infrav1.VMProvisionedCondition, metav1.ConditionFalse, infrav1.VMLostReason)
		Eventually(func(g Gomega) {
			got := getMachine(ctx, g, km)
			g.Expect(ptr.Deref(got.Status.FailureMessage, "")).To(ContainSubstring("was deleted behind the provider's back"))
			g.Expect(got.Status.FailureReason).To(Equal(ptr.To("UpdateError")))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Consistently(func(g Gomega) {
			err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "zeta-md-1"}, &kubevirtv1.VirtualMachine{})
			g.Expect(apierrors.IsNotFound(err)).To(BeTrue(), "no VM is made again with the lost machine's identity")
		}).WithTimeout(3 * time.Second).WithPolling(interval).Should(Succeed())
	})

	It("gives the machine's Node in the nested cluster its provider ID, once it registers", func(ctx SpecContext) {
		ns := newNamespace()
		cluster, _ := provisionedCluster(ctx, ns, "theta")
		By("the nested cluster's kubeconfig Secret, as Cluster API writes it: here the test apiserver stands in")
		nestedKubeconfig(ctx, ns, "theta")
		_, km := newMachine(ctx, cluster, "theta-md-1", false, machineSpec(infrav1.BootstrapCheckNone), cloudConfig)
		var vm *kubevirtv1.VirtualMachine
		Eventually(func(g Gomega) { vm = getVM(ctx, g, ns, "theta-md-1") }).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		runVMI(ctx, vm, "10.244.0.11")
		expectCondition(ctx, km, infrav1.ReadyCondition, metav1.ConditionTrue, "Ready")
		Consistently(func(g Gomega) {
			g.Expect(getMachine(ctx, g, km).Status.NodeUpdated).To(BeFalse(), "no Node registered yet")
		}).WithTimeout(2 * time.Second).WithPolling(interval).Should(Succeed())

		By("kubeadm join registers the Node, without a provider ID (no cloud provider in the nested cluster)")
		node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "theta-md-1"}}
		Expect(k8sClient.Create(ctx, node)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) { Expect(client.IgnoreNotFound(k8sClient.Delete(ctx, node))).To(Succeed()) })
		// The machine looks again every 15 s while its Node is missing.
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(node), node)).To(Succeed())
			g.Expect(node.Spec.ProviderID).To(Equal("kubevirt://theta-md-1"))
			g.Expect(getMachine(ctx, g, km).Status.NodeUpdated).To(BeTrue())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})

	It("refuses bad specs and changes to the VM template, naming the field", func(ctx SpecContext) {
		ns := newNamespace()
		spec := machineSpec(infrav1.BootstrapCheckNone)
		spec.VirtualMachineTemplate.Spec.Template.Spec.Domain.Devices.Disks[0].Name = "rootdisk"
		spec.VirtualMachineTemplate.Spec.RunStrategy = ptr.To(kubevirtv1.RunStrategyHalted)
		err := k8sClient.Create(ctx, &infrav1.KubevirtMachine{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: ns}, Spec: spec})
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(And(
			ContainSubstring(`spec.virtualMachineTemplate.spec.template.spec.domain.devices.disks[0].name: Invalid value: "rootdisk": volume "rootdisk" not found`),
			ContainSubstring(`spec.virtualMachineTemplate.spec.runStrategy: Unsupported value: "Halted"`)))

		spec = machineSpec(infrav1.BootstrapCheckNone)
		spec.VirtualMachineTemplate.Spec.Template = nil
		err = k8sClient.Create(ctx, &infrav1.KubevirtMachineTemplate{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: ns},
			Spec: infrav1.KubevirtMachineTemplateSpec{Template: infrav1.KubevirtMachineTemplateResource{Spec: spec}}})
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring("spec.template.spec.virtualMachineTemplate.spec.template: Required value"))

		By("a template's spec is immutable; its capacity is reported for autoscaling from zero")
		tmpl := &infrav1.KubevirtMachineTemplate{ObjectMeta: metav1.ObjectMeta{Name: "good", Namespace: ns},
			Spec: infrav1.KubevirtMachineTemplateSpec{Template: infrav1.KubevirtMachineTemplateResource{Spec: machineSpec(infrav1.BootstrapCheckNone)}}}
		Expect(k8sClient.Create(ctx, tmpl)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(tmpl), tmpl)).To(Succeed())
			g.Expect(tmpl.Status.Capacity).To(HaveKeyWithValue(corev1.ResourceCPU, resource.MustParse("2")))
			g.Expect(tmpl.Status.Capacity).To(HaveKeyWithValue(corev1.ResourceMemory, resource.MustParse("1Gi")))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Eventually(func(g Gomega) { // a conflict is answered before validation: read again
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(tmpl), tmpl)).To(Succeed())
			tmpl.Spec.Template.Spec.VirtualMachineTemplate.Spec.Template.Spec.Domain.CPU.Cores = 4
			err := k8sClient.Update(ctx, tmpl)
			g.Expect(apierrors.IsConflict(err)).To(BeFalse(), "%v", err)
			g.Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
			g.Expect(err.Error()).To(ContainSubstring("spec: Forbidden: KubevirtMachineTemplateSpec is immutable"))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())

		By("the CRD's own schema refuses an unknown check strategy")
		spec = machineSpec("telnet")
		err = k8sClient.Create(ctx, &infrav1.KubevirtMachine{ObjectMeta: metav1.ObjectMeta{Name: "telnet", Namespace: ns}, Spec: spec})
		Expect(apierrors.IsInvalid(err)).To(BeTrue(), "%v", err)
		Expect(err.Error()).To(ContainSubstring(`spec.virtualMachineBootstrapCheck.checkStrategy: Unsupported value: "telnet"`))
	})
})

var _ = Describe("Cluster deletion", func() {
	It("keeps the KubevirtCluster until its machines are gone", func(ctx SpecContext) {
		ns := newNamespace()
		cluster, kc := provisionedCluster(ctx, ns, "eta")
		_, km := newMachine(ctx, cluster, "eta-md-1", false, machineSpec(infrav1.BootstrapCheckNone), cloudConfig)
		Eventually(func(g Gomega) { getVM(ctx, g, ns, "eta-md-1") }).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Expect(k8sClient.Delete(ctx, kc)).To(Succeed())
		Eventually(func(g Gomega) {
			g.Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(kc), kc)).To(Succeed())
			c := conditions.Get(kc, infrav1.LoadBalancerAvailableCondition)
			g.Expect(c).NotTo(BeNil())
			g.Expect(c.Message).To(ContainSubstring("waiting for 1 KubevirtMachines"))
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "eta-lb"}, &corev1.Service{})).To(Succeed(), "the Service stays while machines remain")

		Expect(k8sClient.Delete(ctx, km)).To(Succeed())
		Eventually(func(g Gomega) {
			vm := &kubevirtv1.VirtualMachine{}
			if err := k8sClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: "eta-md-1"}, vm); err == nil && len(vm.Finalizers) > 0 {
				vm.Finalizers = nil // envtest has no garbage collector (see above)
				_ = k8sClient.Update(ctx, vm)
			}
			g.Expect(apierrors.IsNotFound(k8sClient.Get(ctx, client.ObjectKeyFromObject(kc), &infrav1.KubevirtCluster{}))).To(BeTrue())
		}).WithTimeout(timeout).WithPolling(interval).Should(Succeed())
	})
})

// newMachineOrErr is newMachine for a creation that may be refused (the webhook's cache
// may not have seen a just-made KubeVirt object yet).
func newMachineOrErr(ctx context.Context, cluster *clusterv1.Cluster, name string, spec infrav1.KubevirtMachineSpec, data string, errOut *error) (*clusterv1.Machine, *infrav1.KubevirtMachine) {
	labels := map[string]string{clusterv1.ClusterNameLabel: cluster.Name}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name + "-bootstrap", Namespace: cluster.Namespace, Labels: labels},
		Type: clusterv1.ClusterSecretType, Data: map[string][]byte{"value": []byte(data)}}
	if err := k8sClient.Create(ctx, secret); err != nil && !apierrors.IsAlreadyExists(err) {
		*errOut = err
		return nil, nil
	}
	machine := &clusterv1.Machine{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cluster.Namespace, Labels: labels},
		Spec: clusterv1.MachineSpec{ClusterName: cluster.Name, Bootstrap: clusterv1.Bootstrap{DataSecretName: ptr.To(secret.Name)},
			InfrastructureRef: clusterv1.ContractVersionedObjectReference{APIGroup: infrav1.GroupName, Kind: "KubevirtMachine", Name: name}},
	}
	if err := k8sClient.Create(ctx, machine); err != nil && !apierrors.IsAlreadyExists(err) {
		*errOut = err
		return nil, nil
	}
	Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(machine), machine)).To(Succeed())
	km := &infrav1.KubevirtMachine{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: cluster.Namespace, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: clusterv1.GroupVersion.String(), Kind: "Machine", Name: name, UID: machine.UID}}},
		Spec: spec,
	}
	if err := k8sClient.Create(ctx, km); err != nil {
		*errOut = fmt.Errorf("%w", err)
		return machine, nil
	}
	return machine, km
}
