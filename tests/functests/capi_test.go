package functests

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gbytes"
	appsv1 "k8s.io/api/apps/v1"
	k8sv1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
)

// capiTimeout: clusterctl init starts cert-manager and four providers; a machine's VM
// boots the demo guest under TCG.
const capiTimeout = 10 * time.Minute

var (
	kubevirtClusterGVK     = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1alpha1", Kind: "KubevirtCluster"}
	kubevirtMachineGVK     = schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1alpha1", Kind: "KubevirtMachine"}
	machineGVK             = schema.GroupVersionKind{Group: "cluster.x-k8s.io", Version: "v1beta2", Kind: "Machine"}
	clusterGVK             = schema.GroupVersionKind{Group: "cluster.x-k8s.io", Version: "v1beta2", Kind: "Cluster"}
	machineDeploymentGVK   = schema.GroupVersionKind{Group: "cluster.x-k8s.io", Version: "v1beta2", Kind: "MachineDeployment"}
	kubeadmControlPlaneGVK = schema.GroupVersionKind{Group: "controlplane.cluster.x-k8s.io", Version: "v1beta2", Kind: "KubeadmControlPlane"}
)

var _ = Describe("Cluster API: clusterctl with the kubevirt infrastructure provider", Ordered, func() {
	var clusterctl []string

	BeforeAll(func(ctx SpecContext) {
		clusterctl = clusterctlCommand()
		installHypernest(ctx)
		enableFeatureGate(ctx, clusterconfig.GuestAgentBootstrapCheck)
		// A provider set left by an interrupted run would make clusterctl init refuse.
		removeProviders(ctx, clusterctl)
		DeferCleanup(func(ctx SpecContext) { removeProviders(ctx, clusterctl) })
	})

	run := func(env []string, args ...string) string { return runClusterctl(clusterctl, env, args...) }

	It("installs Cluster API, the kubeadm providers, cert-manager and the kubevirt provider: clusterctl init", func(ctx SpecContext) {
		initProviders(ctx, clusterctl)
	})

	It("refuses a bad KubevirtMachine through the provider's webhook, naming the field", func(ctx SpecContext) {
		ns := newTestNamespace()
		km := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha1", "kind": "KubevirtMachine",
			"metadata": map[string]any{"name": "bad", "namespace": ns},
			"spec": map[string]any{"virtualMachineTemplate": map[string]any{"spec": map[string]any{
				"runStrategy": "Always",
				"template": map[string]any{"spec": map[string]any{"domain": map[string]any{"devices": map[string]any{
					"disks": []any{map[string]any{"name": "root", "disk": map[string]any{"bus": "virtio"}}}}}}}}}},
		}}
		var err error
		// The webhook answers once cert-manager issued its certificate and injected the CA.
		Eventually(func() bool {
			err = crClient.Create(ctx, km)
			return apierrors.IsInvalid(err)
		}).WithContext(ctx).WithTimeout(capiTimeout).WithPolling(2*time.Second).Should(BeTrue(), "want 422 Invalid, got %v", err)
		Expect(err.Error()).To(ContainSubstring(`spec.virtualMachineTemplate.spec.template.spec.domain.devices.disks[0].name: Invalid value: "root": volume "root" not found`))
	})

	It("makes a cluster from the template: endpoint, a VM per machine carrying its bootstrap data, provider IDs; a script's sentinel passes the guest-agent check; deleting the cluster removes everything", func(ctx SpecContext) {
		ns := newTestNamespace()
		const name = "nested"
		By("clusterctl generate cluster, applied as a user would")
		manifest := run([]string{
			"NODE_VM_IMAGE_TEMPLATE=localhost/hypernest/demo-container-disk:devel", // the demo guest with a root shell on its console
			"CRI_PATH=unix:///run/containerd/containerd.sock",
			// The demo guest runs no kubeadm: the bootstrap check waits for nothing here
			// (the guest-agent check is proven below with a script that writes the sentinel).
			"BOOTSTRAP_CHECK=none", "NODE_MEMORY=256Mi",
		}, "generate", "cluster", name, "--infrastructure", "kubevirt", "--target-namespace", ns,
			"--kubernetes-version", "v1.37.2", "--control-plane-machine-count", "1", "--worker-machine-count", "1")
		objs := decodeAll(manifest)
		Expect(objs).To(HaveLen(9), "Cluster, KubevirtCluster, 2 KubevirtMachineTemplates, KubeadmControlPlane, KubeadmConfigTemplate, MachineDeployment, the CNI's ClusterResourceSet and ConfigMap")
		for _, o := range objs {
			Eventually(func() error { return crClient.Create(ctx, o) }).WithContext(ctx).WithTimeout(apiTimeout).Should(Succeed(), "creating %s %s", o.GetKind(), o.GetName())
		}

		By("the KubevirtCluster is provisioned with the control-plane Service's address as endpoint")
		var endpoint map[string]any
		Eventually(func(g Gomega) {
			kc := get(ctx, g, kubevirtClusterGVK, ns, name)
			provisioned, _, _ := unstructured.NestedBool(kc.Object, "status", "initialization", "provisioned")
			g.Expect(provisioned).To(BeTrue(), "status: %v", kc.Object["status"])
			endpoint, _, _ = unstructured.NestedMap(kc.Object, "spec", "controlPlaneEndpoint")
		}).WithContext(ctx).WithTimeout(capiTimeout).WithPolling(time.Second).Should(Succeed())
		svc := &k8sv1.Service{}
		Expect(crClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name + "-lb"}, svc)).To(Succeed())
		Expect(endpoint).To(Equal(map[string]any{"host": svc.Spec.ClusterIP, "port": int64(6443)}))

		By("the control-plane machine's VM runs with its bootstrap data as a ConfigDrive")
		var cpMachine *unstructured.Unstructured
		Eventually(func(g Gomega) {
			list := &unstructured.UnstructuredList{}
			list.SetGroupVersionKind(machineGVK.GroupVersion().WithKind("MachineList"))
			g.Expect(crClient.List(ctx, list, client.InNamespace(ns), client.HasLabels{"cluster.x-k8s.io/control-plane"})).To(Succeed())
			g.Expect(list.Items).To(HaveLen(1))
			cpMachine = &list.Items[0]
			id, _, _ := unstructured.NestedString(cpMachine.Object, "spec", "providerID")
			g.Expect(id).To(HavePrefix("kubevirt://"), "Cluster API copies the provider ID once the machine is provisioned")
			addrs, _, _ := unstructured.NestedSlice(cpMachine.Object, "status", "addresses")
			g.Expect(addrs).NotTo(BeEmpty())
		}).WithContext(ctx).WithTimeout(capiTimeout).WithPolling(2 * time.Second).Should(Succeed())
		kmName, _, _ := unstructured.NestedString(cpMachine.Object, "spec", "infrastructureRef", "name")
		dataSecret, _, _ := unstructured.NestedString(cpMachine.Object, "spec", "bootstrap", "dataSecretName")
		vm := &v1.VirtualMachine{}
		Expect(crClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: kmName}, vm)).To(Succeed())
		Expect(vm.Labels).To(HaveKeyWithValue("cluster.x-k8s.io/role", "control-plane"))
		var configDrive *v1.CloudInitConfigDriveSource
		for _, vol := range vm.Spec.Template.Spec.Volumes {
			if vol.Name == "cloudinitvolume" {
				configDrive = vol.CloudInitConfigDrive
			}
		}
		Expect(configDrive).NotTo(BeNil())
		Expect(configDrive.UserDataSecretRef.Name).To(Equal(dataSecret + "-userdata"))
		bootstrapData, userData := &k8sv1.Secret{}, &k8sv1.Secret{}
		Expect(crClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: dataSecret}, bootstrapData)).To(Succeed())
		Expect(crClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: dataSecret + "-userdata"}, userData)).To(Succeed())
		Expect(string(userData.Data["userdata"])).To(Equal(string(bootstrapData.Data["value"])), "kubeadm's bootstrap data, unchanged (no ssh check, so no capk user)")
		vmi := getVMI(ctx, ns, kmName)
		pod := launcherPod(ctx, vmi)
		Expect(pod.Labels).To(And(HaveKeyWithValue("cluster.x-k8s.io/role", "control-plane"), HaveKeyWithValue("cluster.x-k8s.io/cluster-name", name)),
			"the launcher pod carries the labels the control-plane Service selects")

		By("inside the guest, the ConfigDrive holds that data")
		console := serialConsoleWithInput(pod)
		firstLine := strings.SplitN(string(bootstrapData.Data["value"]), "\n", 2)[0]
		Eventually(func() *gbytes.Buffer {
			_, _ = io.WriteString(console.in, "head -n 1 /mnt/config/openstack/latest/user_data\n")
			return console.out
		}).WithContext(ctx).WithTimeout(vmiTimeout).WithPolling(5 * time.Second).Should(gbytes.Say(regexp.QuoteMeta(firstLine)))

		By("a Machine whose bootstrap data is a script writing the sentinel passes the guest-agent check")
		script := "#!/bin/sh\nmkdir -p /run/cluster-api\necho success > /run/cluster-api/bootstrap-success.complete\n"
		Expect(crClient.Create(ctx, &k8sv1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "agent-check-bootstrap", Namespace: ns, Labels: map[string]string{"cluster.x-k8s.io/cluster-name": name}},
			Type:       "cluster.x-k8s.io/secret",
			Data:       map[string][]byte{"value": []byte(script), "format": []byte("cloud-config")},
		})).To(Succeed())
		tmpl := get(ctx, Default, schema.GroupVersionKind{Group: "infrastructure.cluster.x-k8s.io", Version: "v1alpha1", Kind: "KubevirtMachineTemplate"}, ns, name+"-md-0")
		spec, _, _ := unstructured.NestedMap(tmpl.Object, "spec", "template", "spec")
		Expect(unstructured.SetNestedField(spec, "guest-agent", "virtualMachineBootstrapCheck", "checkStrategy")).To(Succeed())
		agentKM := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha1", "kind": "KubevirtMachine",
			"metadata": map[string]any{"name": "agent-check", "namespace": ns, "labels": map[string]any{"cluster.x-k8s.io/cluster-name": name}},
			"spec":     spec,
		}}
		Expect(crClient.Create(ctx, agentKM)).To(Succeed())
		agentMachine := &unstructured.Unstructured{Object: map[string]any{
			"apiVersion": "cluster.x-k8s.io/v1beta2", "kind": "Machine",
			"metadata": map[string]any{"name": "agent-check", "namespace": ns, "labels": map[string]any{"cluster.x-k8s.io/cluster-name": name}},
			"spec": map[string]any{
				"clusterName":       name,
				"bootstrap":         map[string]any{"dataSecretName": "agent-check-bootstrap"},
				"infrastructureRef": map[string]any{"apiGroup": "infrastructure.cluster.x-k8s.io", "kind": "KubevirtMachine", "name": "agent-check"},
			},
		}}
		Expect(crClient.Create(ctx, agentMachine)).To(Succeed())
		Eventually(func(g Gomega) {
			km := get(ctx, g, kubevirtMachineGVK, ns, "agent-check")
			g.Expect(condition2(km, "BootstrapExecSucceeded")).To(Equal("True/BootstrapSucceeded"), "status: %v", km.Object["status"])
			provisioned, _, _ := unstructured.NestedBool(km.Object, "status", "initialization", "provisioned")
			g.Expect(provisioned).To(BeTrue())
		}).WithContext(ctx).WithTimeout(capiTimeout).WithPolling(2 * time.Second).Should(Succeed())
		agentVMI := getVMI(ctx, ns, "agent-check")
		Expect(condition(agentVMI, v1.VirtualMachineInstanceAgentConnected)).To(Equal(k8sv1.ConditionTrue))
		Expect(agentVMI.Status.GuestOSInfo.ID).To(Equal("hypernest-demo"), "the guest agent reports the demo guest's OS")

		By("deleting the Cluster removes every VM, Service and Secret it made")
		deleteCluster(ctx, ns, name, "agent-check-bootstrap") // the test's own Secret, made by hand
	})
})

type types2 struct{ namespace, name string }

// deleteCluster deletes a Cluster and waits until it is gone with every VM, VMI, Service
// and cluster Secret in its namespace (but the Secrets named in keep).
func deleteCluster(ctx context.Context, ns, name string, keep ...string) {
	cluster := &unstructured.Unstructured{}
	cluster.SetGroupVersionKind(clusterGVK)
	cluster.SetNamespace(ns)
	cluster.SetName(name)
	Expect(client.IgnoreNotFound(crClient.Delete(ctx, cluster))).To(Succeed())
	Eventually(func(g Gomega) {
		g.Expect(apierrors.IsNotFound(crClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, cluster))).To(BeTrue(), "the Cluster is gone")
		vms := &v1.VirtualMachineList{}
		g.Expect(crClient.List(ctx, vms, client.InNamespace(ns))).To(Succeed())
		g.Expect(vms.Items).To(BeEmpty())
		vmis := &v1.VirtualMachineInstanceList{}
		g.Expect(crClient.List(ctx, vmis, client.InNamespace(ns))).To(Succeed())
		g.Expect(vmis.Items).To(BeEmpty())
		svcs := &k8sv1.ServiceList{}
		g.Expect(crClient.List(ctx, svcs, client.InNamespace(ns))).To(Succeed())
		g.Expect(svcs.Items).To(BeEmpty())
		secrets := &k8sv1.SecretList{}
		g.Expect(crClient.List(ctx, secrets, client.InNamespace(ns), client.HasLabels{"cluster.x-k8s.io/cluster-name"})).To(Succeed())
		var left []string
		for _, s := range secrets.Items {
			if !slices.Contains(keep, s.Name) {
				left = append(left, s.Name)
			}
		}
		g.Expect(left).To(BeEmpty())
	}).WithContext(ctx).WithTimeout(capiTimeout).WithPolling(2 * time.Second).Should(Succeed())
}

// clusterctlCommand is the clusterctl to run (make functest builds it, with its offline
// repository); the calling spec is skipped when there is none.
func clusterctlCommand() []string {
	bin, config := os.Getenv("HYPERNEST_CLUSTERCTL"), os.Getenv("HYPERNEST_CLUSTERCTL_CONFIG")
	if bin == "" || config == "" {
		Skip("HYPERNEST_CLUSTERCTL and HYPERNEST_CLUSTERCTL_CONFIG are not set: run `make functest`, which builds the local clusterctl repository (make capi-repo)")
	}
	return []string{bin, "--config", config}
}

// runClusterctl runs clusterctl against the cluster under test and returns its stdout.
func runClusterctl(clusterctl, env []string, args ...string) string {
	cmd := exec.Command(clusterctl[0], append(append(clusterctl[1:], "--kubeconfig", os.Getenv("KUBECONFIG")), args...)...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = io.MultiWriter(&stdout, GinkgoWriter), io.MultiWriter(&stderr, GinkgoWriter)
	Expect(cmd.Run()).To(Succeed(), "clusterctl %s: %s", strings.Join(args, " "), stderr.String())
	return stdout.String()
}

// initProviders runs clusterctl init with the kubevirt provider and waits until every
// provider (and cert-manager) is available.
func initProviders(ctx context.Context, clusterctl []string) {
	runClusterctl(clusterctl, nil, "init", "--infrastructure", "kubevirt", "--wait-providers", "--wait-provider-timeout", "600")
	for _, d := range []types2{{"cert-manager", "cert-manager"}, {"capi-system", "capi-controller-manager"},
		{"capi-kubeadm-bootstrap-system", "capi-kubeadm-bootstrap-controller-manager"},
		{"capi-kubeadm-control-plane-system", "capi-kubeadm-control-plane-controller-manager"},
		{"capk-system", "capk-controller-manager"}} {
		Eventually(func(g Gomega) {
			dep := &appsv1.Deployment{}
			g.Expect(crClient.Get(ctx, client.ObjectKey{Namespace: d.namespace, Name: d.name}, dep)).To(Succeed())
			g.Expect(dep.Status.AvailableReplicas).To(BeNumerically(">=", 1), "%s/%s available", d.namespace, d.name)
		}).WithContext(ctx).WithTimeout(capiTimeout).WithPolling(2 * time.Second).Should(Succeed())
	}
}

// providerNamespaces are where clusterctl init puts the providers.
var providerNamespaces = []string{"capi-system", "capi-kubeadm-bootstrap-system", "capi-kubeadm-control-plane-system", "capk-system"}

// removeProviders runs clusterctl delete --all when a provider is installed, and waits
// until their namespaces are gone (cert-manager stays, as clusterctl leaves it).
func removeProviders(ctx context.Context, clusterctl []string) {
	installed := false
	for _, ns := range providerNamespaces {
		if crClient.Get(ctx, client.ObjectKey{Name: ns}, &k8sv1.Namespace{}) == nil {
			installed = true
		}
	}
	if !installed {
		return
	}
	// Without --include-crd: clusterctl then lists the kinds of providers whose CRDs it
	// already deleted, and fails. The CRDs stay; the next init updates them.
	cmd := exec.Command(clusterctl[0], append(append(clusterctl[1:], "--kubeconfig", os.Getenv("KUBECONFIG")), "delete", "--all", "--include-namespace")...)
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	if err := cmd.Run(); err != nil {
		// A half-removed set (its CRDs gone, say) is beyond clusterctl: remove the
		// providers' namespaces, and with them everything clusterctl put there.
		fmt.Fprintf(GinkgoWriter, "clusterctl delete --all failed (%v); deleting the provider namespaces\n", err)
		for _, ns := range providerNamespaces {
			Expect(client.IgnoreNotFound(crClient.Delete(ctx, &k8sv1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))).To(Succeed())
		}
	}
	Eventually(func(g Gomega) {
		for _, ns := range providerNamespaces {
			g.Expect(apierrors.IsNotFound(crClient.Get(ctx, client.ObjectKey{Name: ns}, &k8sv1.Namespace{}))).To(BeTrue(), "namespace %s is gone", ns)
		}
	}).WithContext(ctx).WithTimeout(capiTimeout).WithPolling(2 * time.Second).Should(Succeed())
}

// get reads an object of the given kind.
func get(ctx context.Context, g Gomega, gvk schema.GroupVersionKind, ns, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetGroupVersionKind(gvk)
	g.Expect(crClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, u)).To(Succeed())
	return u
}

// condition2 is "<status>/<reason>" of a condition in status.conditions.
func condition2(u *unstructured.Unstructured, condType string) string {
	list, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range list {
		m, _ := c.(map[string]any)
		if m["type"] == condType {
			return fmt.Sprintf("%v/%v", m["status"], m["reason"])
		}
	}
	return ""
}

// decodeAll splits a multi-document YAML into objects.
func decodeAll(manifest string) []*unstructured.Unstructured {
	var out []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(strings.NewReader(manifest), 4096)
	for {
		u := &unstructured.Unstructured{}
		err := dec.Decode(&u.Object)
		if err == io.EOF {
			return out
		}
		Expect(err).NotTo(HaveOccurred())
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// enableFeatureGate turns a gate on in the KubeVirt object (making one when the
// components run without the operator) and puts the object back afterwards.
func enableFeatureGate(ctx context.Context, gate string) {
	kv := &v1.KubeVirt{}
	err := crClient.Get(ctx, kubeVirtKey, kv)
	if apierrors.IsNotFound(err) {
		kv = &v1.KubeVirt{ObjectMeta: metav1.ObjectMeta{Namespace: kubeVirtKey.Namespace, Name: kubeVirtKey.Name}}
		kv.Spec.Configuration.DeveloperConfiguration = &v1.DeveloperConfiguration{UseEmulation: installCfg.UseEmulation, FeatureGates: []string{gate}}
		Expect(crClient.Create(ctx, kv)).To(Succeed())
		DeferCleanup(func(ctx SpecContext) {
			kv := &v1.KubeVirt{}
			if crClient.Get(ctx, kubeVirtKey, kv) == nil && len(kv.Finalizers) == 0 {
				Expect(client.IgnoreNotFound(crClient.Delete(ctx, kv))).To(Succeed())
			}
		})
		return
	}
	Expect(err).NotTo(HaveOccurred())
	before := kv.Spec.Configuration.DeveloperConfiguration.DeepCopy()
	if kv.Spec.Configuration.DeveloperConfiguration == nil {
		kv.Spec.Configuration.DeveloperConfiguration = &v1.DeveloperConfiguration{UseEmulation: installCfg.UseEmulation}
	}
	kv.Spec.Configuration.DeveloperConfiguration.FeatureGates = append(kv.Spec.Configuration.DeveloperConfiguration.FeatureGates, gate)
	Expect(crClient.Update(ctx, kv)).To(Succeed())
	DeferCleanup(func(ctx SpecContext) {
		Eventually(func() error {
			kv := &v1.KubeVirt{}
			if err := crClient.Get(ctx, kubeVirtKey, kv); err != nil {
				return client.IgnoreNotFound(err)
			}
			kv.Spec.Configuration.DeveloperConfiguration = before
			return crClient.Update(ctx, kv)
		}).WithTimeout(apiTimeout).Should(Succeed())
	})
}
