package functests

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	k8sv1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-operator/install"
	"github.com/hypernest/hypernest/manifests/crds"
	"github.com/hypernest/hypernest/pkg/wiring"
	"github.com/hypernest/hypernest/tests/framework"
)

// operatorTimeout: a from-scratch install starts four components and registers an API.
const operatorTimeout = 5 * time.Minute

var kubeVirtKey = types.NamespacedName{Namespace: installCfg.Namespace, Name: install.KubeVirtName}

var _ = Describe("virt-operator: Hypernest from the KubeVirt object", Ordered, func() {
	BeforeAll(func(ctx SpecContext) {
		By("removing a virt-operator and KubeVirt object make run or an interrupted run left, and what other specs installed without the operator")
		// The operator first: while it runs, it answers the KubeVirt object's update
		// below by putting its finalizer back and re-applying what is being removed.
		removeOperator(ctx)
		if kv := (&v1.KubeVirt{}); crClient.Get(ctx, kubeVirtKey, kv) == nil {
			kv.Finalizers = nil
			Expect(crClient.Update(ctx, kv)).To(Succeed())
			Expect(client.IgnoreNotFound(crClient.Delete(ctx, kv))).To(Succeed())
		}
		removeAllWorkloads(ctx) // while virt-controller runs to release their finalizers
		crdList, err := crds.All()
		Expect(err).NotTo(HaveOccurred())
		Expect(install.Delete(ctx, crClient, installCfg, crdList)).To(Succeed())
		waitForNoHypernest(ctx)

		By("kubectl apply -f hypernest-operator.yaml, then hypernest-cr.yaml")
		applyManifest(ctx, "hypernest-operator.yaml")
		Eventually(func() error {
			return crClient.List(ctx, &v1.KubeVirtList{})
		}).WithTimeout(apiTimeout).Should(Succeed(), "the KubeVirt CRD is not served")
		applyManifest(ctx, "hypernest-cr.yaml")
		// The operator writes the object too (finalizer, status): retry on a conflict.
		Eventually(func(g Gomega) {
			kv := &v1.KubeVirt{}
			g.Expect(crClient.Get(ctx, kubeVirtKey, kv)).To(Succeed())
			kv.Spec.Configuration.DeveloperConfiguration = &v1.DeveloperConfiguration{UseEmulation: installCfg.UseEmulation}
			g.Expect(crClient.Update(ctx, kv)).To(Succeed())
		}).WithContext(ctx).WithTimeout(apiTimeout).Should(Succeed())
		// Leave the operator out of the other specs' way: they install directly.
		DeferCleanup(removeOperator)
	})

	It("installs from scratch: Deployed, Available, with every component ready", func(ctx SpecContext) {
		kv := waitForKubeVirtDeployed(ctx)
		Expect(kubeVirtCondition(kv, v1.KubeVirtConditionAvailable)).To(Equal(k8sv1.ConditionTrue))
		Expect(kubeVirtCondition(kv, v1.KubeVirtConditionProgressing)).To(Equal(k8sv1.ConditionFalse))
		Expect(kubeVirtCondition(kv, v1.KubeVirtConditionDegraded)).To(Equal(k8sv1.ConditionFalse))
		// KubeVirt's test suite and tools wait for Created.
		Expect(kubeVirtCondition(kv, v1.KubeVirtConditionCreated)).To(Equal(k8sv1.ConditionTrue))
		Expect(*kv.Status.ObservedGeneration).To(Equal(kv.Generation))
		Expect(kv.Status.ObservedKubeVirtVersion).To(Equal(installCfg.ImageTag))
		Expect(kv.Status.ObservedDeploymentID).NotTo(BeEmpty())
		Expect(kv.Status.ObservedDeploymentID).To(Equal(kv.Status.TargetDeploymentID))
		Expect(kv.Status.ObservedDeploymentConfig).To(ContainSubstring(`"tag":"` + installCfg.ImageTag + `"`))
		Expect(kv.Status.DefaultArchitecture).NotTo(BeEmpty())
		Expect(install.WaitReady(ctx, crClient, installCfg, componentTimeout, func(string) {})).To(Succeed())

		By("each virt-handler's qemu-capabilities init container probed QEMU, and its handler holds the cache for launchers")
		handlers, err := kubeClient.CoreV1().Pods(installCfg.Namespace).List(ctx, metav1.ListOptions{LabelSelector: v1.AppLabel + "=" + wiring.HandlerName})
		Expect(err).NotTo(HaveOccurred())
		Expect(handlers.Items).NotTo(BeEmpty())
		for _, pod := range handlers.Items {
			logs := func(container string) string {
				data, err := kubeClient.CoreV1().Pods(pod.Namespace).GetLogs(pod.Name, &k8sv1.PodLogOptions{Container: container}).DoRaw(ctx)
				Expect(err).NotTo(HaveOccurred(), "logs of %s in %s", container, pod.Name)
				return string(data)
			}
			Expect(logs("qemu-capabilities")).To(ContainSubstring("probed QEMU's capabilities"), "pod %s", pod.Name)
			Expect(logs(wiring.HandlerName)).To(MatchRegexp(`"QEMU capabilities cache for launchers".*"files":1\b`), "pod %s", pod.Name)
		}

		By("virt-operator serves its metrics: leading, ready, its work queue and its API requests")
		Eventually(func(g Gomega) {
			families := scrapeComponent(ctx, g, install.OperatorName)
			g.Expect(gauge(families, "kubevirt_virt_operator_leading_status", nil)).To(Equal(1.0))
			g.Expect(gauge(families, "kubevirt_virt_operator_ready_status", nil)).To(Equal(1.0))
			g.Expect(total(families, "kubevirt_workqueue_adds_total", map[string]string{"name": "virt-operator"})).To(BeNumerically(">", 0))
			g.Expect(total(families, "kubevirt_rest_client_requests_total", map[string]string{"resource": "deployments", "verb": "CREATE", "code": "201"})).To(BeNumerically(">", 0))
			emulation := 0.0
			if installCfg.UseEmulation {
				emulation = 1
			}
			g.Expect(gauge(families, "kubevirt_configuration_emulation_enabled", nil)).To(Equal(emulation), "the KubeVirt object's useEmulation")
		}).WithContext(ctx).WithTimeout(time.Minute).WithPolling(2 * time.Second).Should(Succeed())
	})

	It("puts back a deleted virt-controller Deployment", func(ctx SpecContext) {
		d := &appsv1.Deployment{}
		Expect(crClient.Get(ctx, client.ObjectKey{Namespace: installCfg.Namespace, Name: install.ControllerName}, d)).To(Succeed())
		oldUID := d.UID
		Expect(crClient.Delete(ctx, d)).To(Succeed())
		Eventually(func() types.UID {
			got := &appsv1.Deployment{}
			if err := crClient.Get(ctx, client.ObjectKeyFromObject(d), got); err != nil {
				return oldUID
			}
			return got.UID
		}).WithTimeout(operatorTimeout).ShouldNot(Equal(oldUID))
		waitForKubeVirtDeployed(ctx)
	})

	It("keeps a kubectl rollout restart of a component: the pods restart once, and the operator does not roll them back", func(ctx SpecContext) {
		// make run and make cluster-sync restart the components so they run images just
		// imported under the same tag; the operator used to drop the annotation and roll
		// them a second time, cutting the example VM's console (CI, stop 24).
		const restartedAt = "kubectl.kubernetes.io/restartedAt"
		key := client.ObjectKey{Namespace: installCfg.Namespace, Name: install.ControllerName}
		d := &appsv1.Deployment{}
		Expect(crClient.Get(ctx, key, d)).To(Succeed())
		before := d.DeepCopy()
		if d.Spec.Template.Annotations == nil {
			d.Spec.Template.Annotations = map[string]string{}
		}
		stamp := time.Now().UTC().Format(time.RFC3339Nano)
		d.Spec.Template.Annotations[restartedAt] = stamp
		Expect(crClient.Patch(ctx, d, client.MergeFrom(before))).To(Succeed())
		restarted := d.Generation
		// The operator watches its Deployments: the patch makes it reconcile at once.
		Consistently(func(g Gomega) {
			got := &appsv1.Deployment{}
			g.Expect(crClient.Get(ctx, key, got)).To(Succeed())
			g.Expect(got.Spec.Template.Annotations).To(HaveKeyWithValue(restartedAt, stamp))
			g.Expect(got.Generation).To(Equal(restarted), "no second roll-out")
		}).WithContext(ctx).WithTimeout(30 * time.Second).WithPolling(2 * time.Second).Should(Succeed())
		waitForKubeVirtDeployed(ctx)
	})

	It("puts back at once, not on its hourly pass, a deleted webhook configuration, APIService, ClusterRole and RoleBinding", func(ctx SpecContext) {
		apiService := &unstructured.Unstructured{}
		apiService.SetGroupVersionKind(install.APIServiceGVK)
		apiService.SetName("v1.subresources.kubevirt.io")
		for _, obj := range []client.Object{
			&admissionregistrationv1.ValidatingWebhookConfiguration{ObjectMeta: metav1.ObjectMeta{Name: "virt-api-validator"}},
			apiService,
			&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "kubevirt.io:" + wiring.HandlerName}},
			&rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Namespace: installCfg.Namespace, Name: "kubevirt.io:" + wiring.APIName}},
		} {
			kind := fmt.Sprintf("%T %s", obj, obj.GetName())
			Expect(crClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed(), kind)
			oldUID := obj.GetUID()
			Expect(crClient.Delete(ctx, obj)).To(Succeed(), kind)
			// The operator's watch sees the deletion; two minutes leave room for a loaded
			// node and are far from the hourly pass that was the only repair before.
			Eventually(func(g Gomega) {
				got := obj.DeepCopyObject().(client.Object)
				g.Expect(crClient.Get(ctx, client.ObjectKeyFromObject(obj), got)).To(Succeed())
				g.Expect(got.GetUID()).NotTo(Equal(oldUID))
			}).WithContext(ctx).WithTimeout(2*time.Minute).Should(Succeed(), "%s was not put back", kind)
		}
		waitForKubeVirtDeployed(ctx)
	})

	It("passes spec.configuration to the components live, restarting none (useEmulation)", func(ctx SpecContext) {
		// A restart would show as a new generation of a component's pod template.
		generations := func() map[string]int64 {
			out := map[string]int64{}
			for _, name := range []string{wiring.APIName, install.ControllerName} {
				d := &appsv1.Deployment{}
				Expect(crClient.Get(ctx, client.ObjectKey{Namespace: installCfg.Namespace, Name: name}, d)).To(Succeed())
				out[name] = d.Generation
			}
			ds := &appsv1.DaemonSet{}
			Expect(crClient.Get(ctx, client.ObjectKey{Namespace: installCfg.Namespace, Name: wiring.HandlerName}, ds)).To(Succeed())
			out[wiring.HandlerName] = ds.Generation
			return out
		}
		before := generations()
		ns := newTestNamespace()
		tries := 0
		// kvmRequested creates a VMI and reports whether virt-controller gave its launcher
		// pod /dev/kvm (it does unless useEmulation).
		kvmRequested := func() bool {
			tries++
			vmi := exampleVMI("vmi-nocloud.yaml")
			vmi.Name, vmi.Namespace = fmt.Sprintf("config-%d", tries), ns
			Expect(crClient.Create(ctx, vmi)).To(Succeed())
			defer func() { _ = crClient.Delete(ctx, vmi) }()
			var pod *k8sv1.Pod
			Eventually(func() int {
				pods := &k8sv1.PodList{}
				Expect(crClient.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{v1.CreatedByLabel: string(vmi.UID)})).To(Succeed())
				if len(pods.Items) > 0 {
					pod = &pods.Items[0]
				}
				return len(pods.Items)
			}).WithTimeout(apiTimeout).Should(BeNumerically(">", 0))
			_, ok := pod.Spec.Containers[0].Resources.Requests[launcherv1.KVMResource]
			return ok
		}
		setEmulation := func(on bool) {
			kv := getKubeVirt(ctx)
			kv.Spec.Configuration.DeveloperConfiguration.UseEmulation = on
			Expect(crClient.Update(ctx, kv)).To(Succeed())
		}
		setEmulation(!installCfg.UseEmulation)
		Eventually(kvmRequested).WithTimeout(apiTimeout).WithPolling(time.Second).Should(Equal(installCfg.UseEmulation))
		setEmulation(installCfg.UseEmulation)
		Eventually(kvmRequested).WithTimeout(apiTimeout).WithPolling(time.Second).Should(Equal(!installCfg.UseEmulation))
		Consistently(generations).WithTimeout(5*time.Second).Should(Equal(before), "a component was rolled out again")
		waitForKubeVirtDeployed(ctx)
	})

	It("upgrades to a new image tag, virt-handler last, with a running VM untouched", func(ctx SpecContext) {
		ns := newTestNamespace()
		vm := exampleVM("vm-cirros.yaml")
		vm.Namespace = ns
		vm.Spec.RunStrategy = ptr.To(v1.RunStrategyAlways)
		Expect(crClient.Create(ctx, vm)).To(Succeed())
		waitForVMStatus(ctx, ns, vm.Name, v1.VirtualMachineStatusRunning)
		before := getVMI(ctx, ns, vm.Name)
		qemu := qemuPID(before)

		By("tagging the node's images as the next version")
		const next = "next"
		for _, name := range []string{wiring.APIName, install.ControllerName, wiring.HandlerName, install.LauncherName} {
			tagImage(installCfg.Image(name), installCfg.ImageRegistry+"/"+name+":"+next)
		}
		kv := getKubeVirt(ctx)
		kv.Spec.ImageTag = next
		Expect(crClient.Update(ctx, kv)).To(Succeed())

		By("watching the roll-out: the handler changes only after virt-api and virt-controller run the new version")
		image := func(obj client.Object) string {
			Expect(crClient.Get(ctx, client.ObjectKeyFromObject(obj), obj)).To(Succeed())
			switch o := obj.(type) {
			case *appsv1.Deployment:
				return o.Spec.Template.Spec.Containers[0].Image
			case *appsv1.DaemonSet:
				return o.Spec.Template.Spec.Containers[0].Image
			}
			return ""
		}
		key := func(name string) client.ObjectKey {
			return client.ObjectKey{Namespace: installCfg.Namespace, Name: name}
		}
		Eventually(func() string {
			ds := &appsv1.DaemonSet{ObjectMeta: objectMeta(key(wiring.HandlerName))}
			handlerImage := image(ds)
			if strings.HasSuffix(handlerImage, ":"+next) {
				for _, name := range []string{wiring.APIName, install.ControllerName} {
					d := &appsv1.Deployment{ObjectMeta: objectMeta(key(name))}
					Expect(image(d)).To(HaveSuffix(":"+next), "virt-handler was updated before %s", name)
					Expect(d.Status.UpdatedReplicas).To(Equal(*d.Spec.Replicas), "virt-handler was updated before %s rolled out", name)
				}
			}
			return handlerImage
		}).WithTimeout(operatorTimeout).WithPolling(200 * time.Millisecond).Should(HaveSuffix(":" + next))
		kv = waitForKubeVirtDeployed(ctx)
		Expect(kv.Status.ObservedKubeVirtVersion).To(Equal(next))

		after := getVMI(ctx, ns, vm.Name)
		Expect(after.UID).To(Equal(before.UID), "the VMI was replaced")
		Expect(after.Status.Phase).To(Equal(v1.Running))
		Expect(qemuPID(after)).To(Equal(qemu), "QEMU was restarted")

		By("a new VMI runs the new launcher")
		Expect(crClient.Delete(ctx, after)).To(Succeed())
		Eventually(func() string {
			vmi := &v1.VirtualMachineInstance{}
			if err := crClient.Get(ctx, types.NamespacedName{Namespace: ns, Name: vm.Name}, vmi); err != nil || vmi.UID == before.UID || vmi.Status.Phase != v1.Running {
				return ""
			}
			return vmi.Status.LauncherContainerImageVersion
		}).WithTimeout(vmiTimeout).Should(Equal(installCfg.ImageRegistry + "/" + install.LauncherName + ":" + next))
	})

	It("refuses to uninstall while VMIs exist, then, with RemoveWorkloads, removes everything", func(ctx SpecContext) {
		ns := newTestNamespace()
		vmi := exampleVMI("vmi-nocloud.yaml")
		vmi.Namespace = ns
		Expect(crClient.Create(ctx, vmi)).To(Succeed())
		Expect(crClient.Delete(ctx, getKubeVirt(ctx))).To(Succeed())
		Eventually(func() string {
			kv := getKubeVirt(ctx)
			for _, c := range kv.Status.Conditions {
				if c.Type == v1.KubeVirtConditionDegraded && c.Status == k8sv1.ConditionTrue {
					return string(kv.Status.Phase) + " " + c.Reason + ": " + c.Message
				}
			}
			return string(kv.Status.Phase)
		}).WithTimeout(operatorTimeout).Should(And(HavePrefix("Deleting UninstallBlockedByWorkloads"), ContainSubstring("spec.uninstallStrategy: RemoveWorkloads")))
		Consistently(func() error {
			return crClient.Get(ctx, client.ObjectKey{Namespace: installCfg.Namespace, Name: wiring.HandlerName}, &appsv1.DaemonSet{})
		}).WithTimeout(5*time.Second).Should(Succeed(), "nothing is removed while the uninstall is blocked")

		kv := getKubeVirt(ctx)
		kv.Spec.UninstallStrategy = v1.KubeVirtUninstallStrategyRemoveWorkloads
		Expect(crClient.Update(ctx, kv)).To(Succeed())
		Eventually(func() bool {
			return apierrors.IsNotFound(crClient.Get(ctx, kubeVirtKey, &v1.KubeVirt{}))
		}).WithTimeout(operatorTimeout).Should(BeTrue(), "the KubeVirt object was not released")
		waitForNoHypernest(ctx)
	})
})

// removeAllWorkloads deletes every VM and VMI of the cluster and waits until they are
// gone.
func removeAllWorkloads(ctx context.Context) {
	vms := &v1.VirtualMachineList{}
	if err := crClient.List(ctx, vms); err == nil {
		for i := range vms.Items {
			Expect(client.IgnoreNotFound(crClient.Delete(ctx, &vms.Items[i]))).To(Succeed())
		}
	}
	Eventually(func() int {
		vmis := &v1.VirtualMachineInstanceList{}
		if err := crClient.List(ctx, vmis); err != nil {
			return 0 // no VMI CRD: no VMIs
		}
		for i := range vmis.Items {
			Expect(client.IgnoreNotFound(crClient.Delete(ctx, &vmis.Items[i]))).To(Succeed())
		}
		return len(vmis.Items)
	}).WithTimeout(operatorTimeout).Should(BeZero())
}

// waitForNoHypernest waits until no object of a Hypernest installation is left but the
// namespace, the operator's own objects and the KubeVirt CRD.
func waitForNoHypernest(ctx context.Context) {
	managed := client.MatchingLabels{v1.ManagedByLabel: v1.ManagedByLabelOperatorValue}
	Eventually(func() []string {
		var left []string
		lists := map[string]client.ObjectList{
			"Deployment": &appsv1.DeploymentList{}, "DaemonSet": &appsv1.DaemonSetList{}, "Service": &k8sv1.ServiceList{},
			"Secret": &k8sv1.SecretList{}, "ServiceAccount": &k8sv1.ServiceAccountList{}, "ClusterRole": &rbacv1.ClusterRoleList{},
			"ClusterRoleBinding": &rbacv1.ClusterRoleBindingList{}, "RoleBinding": &rbacv1.RoleBindingList{}, "Role": &rbacv1.RoleList{},
			"MutatingWebhookConfiguration":   &admissionregistrationv1.MutatingWebhookConfigurationList{},
			"ValidatingWebhookConfiguration": &admissionregistrationv1.ValidatingWebhookConfigurationList{},
		}
		for kind, list := range lists {
			Expect(crClient.List(ctx, list, managed)).To(Succeed())
			items, _ := metaItems(list)
			for _, name := range items {
				left = append(left, kind+"/"+name)
			}
		}
		crdList := &apiextensionsv1.CustomResourceDefinitionList{}
		Expect(crClient.List(ctx, crdList)).To(Succeed())
		for _, crd := range crdList.Items {
			if strings.HasSuffix(crd.Spec.Group, "kubevirt.io") && crd.Name != install.KubeVirtCRDName {
				left = append(left, "CustomResourceDefinition/"+crd.Name)
			}
		}
		svc := install.APIServiceObject(installCfg, nil)
		if err := crClient.Get(ctx, client.ObjectKeyFromObject(svc), svc); err == nil {
			left = append(left, "APIService/"+svc.GetName())
		}
		return left
	}).WithTimeout(operatorTimeout).Should(BeEmpty())
}

func metaItems(list client.ObjectList) ([]string, error) {
	objs, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, o := range objs {
		if m, err := meta.Accessor(o); err == nil {
			names = append(names, m.GetName())
		}
	}
	return names, nil
}

func objectMeta(key client.ObjectKey) metav1.ObjectMeta {
	return metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}
}

// applyManifest applies a release manifest as kubectl apply would: each document created
// or updated.
func applyManifest(ctx context.Context, file string) {
	root, err := framework.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	docs, err := framework.ReadYAMLDocuments(filepath.Join(root, "manifests", "release", file))
	Expect(err).NotTo(HaveOccurred())
	for _, doc := range docs {
		u := &unstructured.Unstructured{}
		Expect(yaml.Unmarshal(doc, &u.Object)).To(Succeed())
		if len(u.Object) == 0 {
			continue
		}
		apply(ctx, u)
	}
}

func getKubeVirt(ctx context.Context) *v1.KubeVirt {
	kv := &v1.KubeVirt{}
	Expect(crClient.Get(ctx, kubeVirtKey, kv)).To(Succeed())
	return kv
}

// waitForKubeVirtDeployed waits as KubeVirt's own tests do: the operator has seen the
// latest spec, and the installation is Deployed with Available=True, Progressing=False
// and Degraded=False (during an update the phase stays Deployed, as in KubeVirt, and the
// conditions tell the roll-out).
func waitForKubeVirtDeployed(ctx context.Context) *v1.KubeVirt {
	var kv *v1.KubeVirt
	Eventually(func(g Gomega) {
		kv = getKubeVirt(ctx)
		g.Expect(kv.Status.ObservedGeneration).NotTo(BeNil(), "not yet seen by the operator")
		g.Expect(*kv.Status.ObservedGeneration).To(Equal(kv.Generation), "the latest spec is not yet seen by the operator")
		g.Expect(kv.Status.Phase).To(Equal(v1.KubeVirtPhaseDeployed))
		g.Expect(kubeVirtCondition(kv, v1.KubeVirtConditionAvailable)).To(Equal(k8sv1.ConditionTrue), "Available")
		g.Expect(kubeVirtCondition(kv, v1.KubeVirtConditionProgressing)).To(Equal(k8sv1.ConditionFalse), "Progressing")
		g.Expect(kubeVirtCondition(kv, v1.KubeVirtConditionDegraded)).To(Equal(k8sv1.ConditionFalse), "Degraded")
	}).WithContext(ctx).WithTimeout(operatorTimeout).WithPolling(time.Second).Should(Succeed(), func() string {
		return "KubeVirt status: " + toJSON(kv.Status)
	})
	return kv
}

func kubeVirtCondition(kv *v1.KubeVirt, t v1.KubeVirtConditionType) k8sv1.ConditionStatus {
	for _, c := range kv.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

// tagImage gives an image a second name in every node's containerd (the local cluster's
// nodes; the tests run on them).
func tagImage(from, to string) {
	root, err := framework.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	script := fmt.Sprintf("source hack/cluster/common.sh && { hn_ctr_all images rm %q >/dev/null 2>&1 || true; } && hn_ctr_all images tag %q %q >/dev/null", to, from, to)
	cmd := exec.Command("bash", "-c", script)
	cmd.Dir = root
	out, err := cmd.CombinedOutput()
	Expect(err).NotTo(HaveOccurred(), "tagging %s as %s: %s", from, to, out)
}
