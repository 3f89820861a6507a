package api_test

import (
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/discovery"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/tests/framework"
)

// newNamespace creates a namespace of its own for one spec.
func newNamespace() string {
	ctx, cancel := ctxWithTimeout()
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "api-" + rand.String(6)}}
	Expect(k8sClient.Create(ctx, ns)).To(Succeed())
	return ns.Name
}

// createStrict creates a manifest as `kubectl apply` does today: with server-side strict
// field validation, so an unknown field is an error rather than silently dropped.
func createStrict(namespace string, manifest []byte) (*unstructured.Unstructured, error) {
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal(manifest, &obj.Object); err != nil {
		return nil, err
	}
	obj.SetNamespace(namespace)
	ctx, cancel := ctxWithTimeout()
	defer cancel()
	err := k8sClient.Create(ctx, obj, &client.CreateOptions{FieldValidation: metav1.FieldValidationStrict})
	return obj, err
}

func runKubectl(args ...string) (string, error) {
	cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kubeconfig}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

var _ = Describe("kubevirt.io CRDs", func() {
	It("are installed, established and discoverable with KubeVirt's names", func() {
		dc, err := discovery.NewDiscoveryClientForConfig(restConfig)
		Expect(err).NotTo(HaveOccurred())

		type want struct {
			groupVersion, kind string
			shortNames         []string
		}
		for resource, w := range map[string]want{
			"virtualmachines":                   {"kubevirt.io/v1", "VirtualMachine", []string{"vm", "vms"}},
			"virtualmachineinstances":           {"kubevirt.io/v1", "VirtualMachineInstance", []string{"vmi", "vmis"}},
			"virtualmachineinstancereplicasets": {"kubevirt.io/v1", "VirtualMachineInstanceReplicaSet", []string{"vmirs", "vmirss"}},
			"kubevirts":                         {"kubevirt.io/v1", "KubeVirt", []string{"kv", "kvs"}},
			"virtualmachineinstancemigrations":  {"kubevirt.io/v1", "VirtualMachineInstanceMigration", []string{"vmim", "vmims"}},
			"virtualmachinepools":               {"pool.kubevirt.io/v1beta1", "VirtualMachinePool", []string{"vmpool", "vmpools"}},
		} {
			By("discovering " + resource)
			list, err := dc.ServerResourcesForGroupVersion(w.groupVersion)
			Expect(err).NotTo(HaveOccurred())
			var found *metav1.APIResource
			for i := range list.APIResources {
				if list.APIResources[i].Name == resource {
					found = &list.APIResources[i]
				}
			}
			Expect(found).NotTo(BeNil(), "%s is not served in %s", resource, w.groupVersion)
			Expect(found.Kind).To(Equal(w.kind))
			Expect(found.Namespaced).To(BeTrue())
			Expect(found.ShortNames).To(ConsistOf(w.shortNames))
			Expect(found.Categories).To(ContainElement("all"))

			ctx, cancel := ctxWithTimeout()
			crd := &apiextensionsv1.CustomResourceDefinition{}
			group := strings.Split(w.groupVersion, "/")[0]
			Expect(k8sClient.Get(ctx, client.ObjectKey{Name: resource + "." + group}, crd)).To(Succeed())
			cancel()
			Expect(crd.Spec.Versions).To(HaveLen(1))
			Expect(crd.Spec.Versions[0].Subresources).NotTo(BeNil())
			Expect(crd.Spec.Versions[0].Subresources.Status).NotTo(BeNil(), "%s has no status subresource", resource)
		}
		Expect(discoveredStatus(dc, "kubevirt.io/v1", "virtualmachines/status")).To(BeTrue())
	})

	It("serve instancetype.kubevirt.io/v1beta1 with KubeVirt's kinds, scopes and short names", func() {
		dc, err := discovery.NewDiscoveryClientForConfig(restConfig)
		Expect(err).NotTo(HaveOccurred())
		list, err := dc.ServerResourcesForGroupVersion("instancetype.kubevirt.io/v1beta1")
		Expect(err).NotTo(HaveOccurred())
		type want struct {
			kind       string
			namespaced bool
			shortNames []string
		}
		got := map[string]want{}
		for _, r := range list.APIResources {
			got[r.Name] = want{r.Kind, r.Namespaced, r.ShortNames}
		}
		Expect(got).To(Equal(map[string]want{
			"virtualmachineinstancetypes":        {"VirtualMachineInstancetype", true, []string{"vminstancetype", "vminstancetypes", "vmf", "vmfs"}},
			"virtualmachineclusterinstancetypes": {"VirtualMachineClusterInstancetype", false, []string{"vmclusterinstancetype", "vmclusterinstancetypes", "vmcf", "vmcfs"}},
			"virtualmachinepreferences":          {"VirtualMachinePreference", true, []string{"vmpref", "vmprefs", "vmp", "vmps"}},
			"virtualmachineclusterpreferences":   {"VirtualMachineClusterPreference", false, []string{"vmcp", "vmcps"}},
		}))
	})

	It("accept every KubeVirt example manifest unchanged, losing no field", func() {
		dir, err := framework.ConformanceExamplesDir()
		Expect(err).NotTo(HaveOccurred())
		files, err := framework.YAMLFiles(dir)
		Expect(err).NotTo(HaveOccurred())
		ns := newNamespace()
		for _, f := range files {
			docs, err := framework.ReadYAMLDocuments(f)
			Expect(err).NotTo(HaveOccurred())
			for _, doc := range docs {
				By("creating " + filepath.Base(f))
				created, err := createStrict(ns, doc)
				Expect(err).NotTo(HaveOccurred(), "the apiserver refused %s", filepath.Base(f))

				By("reading it back: the stored spec is the spec the user wrote")
				var original map[string]any
				Expect(yaml.Unmarshal(doc, &original)).To(Succeed())
				stored := &unstructured.Unstructured{}
				stored.SetGroupVersionKind(created.GroupVersionKind())
				ctx, cancel := ctxWithTimeout()
				Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(created), stored)).To(Succeed())
				cancel()
				Expect(asJSON(stored.Object["spec"])).To(Equal(asJSON(original["spec"])), "%s: the server pruned or changed a field", filepath.Base(f))
			}
		}
	})

	It("accept the project's own examples", func() {
		files, err := framework.YAMLFiles(filepath.Join(repoRoot, "examples"))
		Expect(err).NotTo(HaveOccurred())
		for _, f := range files {
			docs, err := framework.ReadYAMLDocuments(f)
			Expect(err).NotTo(HaveOccurred())
			for _, doc := range docs {
				_, err := createStrict(newNamespace(), doc)
				Expect(err).NotTo(HaveOccurred(), "the apiserver refused %s", filepath.Base(f))
			}
		}
	})

	DescribeTable("refuse invalid objects with a message naming the field",
		func(manifest string, wantInMessage ...string) {
			_, err := createStrict(newNamespace(), []byte(manifest))
			Expect(err).To(HaveOccurred(), "the apiserver accepted an invalid object")
			GinkgoWriter.Printf("refused as expected: %v\n", err)
			Expect(apierrors.IsInvalid(err) || apierrors.IsBadRequest(err)).To(BeTrue(), "unexpected error kind: %v", err)
			for _, s := range wantInMessage {
				Expect(err.Error()).To(ContainSubstring(s))
			}
		},
		Entry("an unknown run strategy", vmWith(`runStrategy: Sometimes`, `memory: {guest: 128Mi}`),
			`spec.runStrategy`, `Unsupported value: "Sometimes"`),
		Entry("a memory size that is not a quantity", vmWith(`runStrategy: Always`, `memory: {guest: lots}`),
			`spec.template.spec.domain.memory.guest`, `"lots"`),
		Entry("an unknown field under strict validation", vmWith(`runStrategy: Always`, `memory: {guest: 128Mi, size: 1Gi}`),
			`unknown field "spec.template.spec.domain.memory.size"`),
		Entry("a port out of range", `
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata: {name: bad-port}
spec:
  domain:
    devices:
      interfaces:
      - name: default
        masquerade: {}
        ports: [{port: 70000}]
  networks: [{name: default, pod: {}}]
`, `spec.domain.devices.interfaces[0].ports[0].port`),
		Entry("a VM without a template", `
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: no-template}
spec:
  runStrategy: Always
`, `spec.template`, `Required value`),
	)

	It("keep status apart from spec through the status subresource", func() {
		ns := newNamespace()
		obj, err := createStrict(ns, []byte(vmWith(`runStrategy: Halted`, `memory: {guest: 128Mi}`)))
		Expect(err).NotTo(HaveOccurred())
		ctx, cancel := ctxWithTimeout()
		defer cancel()
		vm := &kubevirtv1.VirtualMachine{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), vm)).To(Succeed())

		vm.Status.PrintableStatus = kubevirtv1.VirtualMachineStatusStopped
		Expect(k8sClient.Status().Update(ctx, vm)).To(Succeed())
		generation := vm.Generation

		By("a spec update neither changes the status nor is changed by it")
		vm.Status.PrintableStatus = kubevirtv1.VirtualMachineStatusRunning
		vm.Spec.RunStrategy = ptr(kubevirtv1.RunStrategyAlways)
		Expect(k8sClient.Update(ctx, vm)).To(Succeed())
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(obj), vm)).To(Succeed())
		Expect(vm.Status.PrintableStatus).To(Equal(kubevirtv1.VirtualMachineStatusStopped))
		Expect(*vm.Spec.RunStrategy).To(Equal(kubevirtv1.RunStrategyAlways))
		Expect(vm.Generation).To(Equal(generation + 1))
	})

	It("print KubeVirt's columns in kubectl get", func() {
		ns := newNamespace()
		_, err := createStrict(ns, []byte(vmWith(`runStrategy: Halted`, `memory: {guest: 128Mi}`)))
		Expect(err).NotTo(HaveOccurred())
		out, err := runKubectl("get", "vm", "-n", ns)
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(strings.Fields(strings.SplitN(out, "\n", 2)[0])).To(Equal([]string{"NAME", "AGE", "STATUS", "READY"}))

		vmiManifest := `
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstance
metadata: {name: columns}
spec:
  domain: {devices: {}, memory: {guest: 128Mi}}
`
		_, err = createStrict(ns, []byte(vmiManifest))
		Expect(err).NotTo(HaveOccurred())
		out, err = runKubectl("get", "vmi", "-n", ns, "-o", "wide")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(strings.Fields(strings.SplitN(out, "\n", 2)[0])).To(Equal(
			[]string{"NAME", "AGE", "PHASE", "IP", "NODENAME", "READY", "LIVE-MIGRATABLE", "PAUSED"}))
	})

	It("store KubeVirt's migration example losing no field, and print its columns", func() {
		ns := newNamespace()
		// KubeVirt's examples/migration.yaml. envtest runs no webhooks: virt-api's refusal of
		// migrations Hypernest cannot carry out is tested on the local cluster.
		manifest := `
apiVersion: kubevirt.io/v1
kind: VirtualMachineInstanceMigration
metadata:
  name: migration-job
spec:
  vmiName: vmi-fedora
`
		created, err := createStrict(ns, []byte(manifest))
		Expect(err).NotTo(HaveOccurred())
		ctx, cancel := ctxWithTimeout()
		defer cancel()
		stored := &kubevirtv1.VirtualMachineInstanceMigration{}
		Expect(k8sClient.Get(ctx, client.ObjectKeyFromObject(created), stored)).To(Succeed())
		Expect(stored.Spec).To(Equal(kubevirtv1.VirtualMachineInstanceMigrationSpec{VMIName: "vmi-fedora"}))

		By("a priority outside KubeVirt's three is refused by the schema, naming the field")
		_, err = createStrict(ns, []byte(strings.Replace(manifest, "migration-job", "urgent", 1)+"  priority: urgent\n"))
		Expect(err).To(MatchError(ContainSubstring(`spec.priority: Unsupported value: "urgent"`)))

		out, err := runKubectl("get", "vmim", "-n", ns)
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(strings.Fields(strings.SplitN(out, "\n", 2)[0])).To(Equal([]string{"NAME", "PHASE", "VMI"}), "KubeVirt's two columns, and no age")
		Expect(out).To(ContainSubstring("vmi-fedora"))
	})

	It("document their fields for kubectl explain", func() {
		out, err := runKubectl("explain", "vm.spec.runStrategy")
		Expect(err).NotTo(HaveOccurred(), out)
		Expect(out).To(ContainSubstring("FIELD: runStrategy <string>"))
		Expect(out).To(ContainSubstring("RerunOnFailure"))
		Expect(out).To(ContainSubstring("Always"))
	})

	It("can be applied by users with kubectl apply", func() {
		// kubectl apply keeps the whole object in an annotation limited to 256 KiB; a CRD
		// with full schemas must stay under it or client-side apply fails.
		out, err := runKubectl("apply", "-f", filepath.Join(repoRoot, "manifests", "crds"))
		Expect(err).NotTo(HaveOccurred(), out)
		files, err := filepath.Glob(filepath.Join(repoRoot, "manifests", "crds", "*.yaml"))
		Expect(err).NotTo(HaveOccurred())
		Expect(files).To(HaveLen(11), "kubevirt.io (5), pool.kubevirt.io (1), instancetype.kubevirt.io (4), migrations.kubevirt.io (1)")
		Expect(strings.Count(out, "customresourcedefinition.apiextensions.k8s.io/")).To(Equal(len(files)), out)
	})
})

// vmWith renders a minimal VM manifest with the given spec line and domain memory line.
func vmWith(specLine, memoryLine string) string {
	return fmt.Sprintf(`
apiVersion: kubevirt.io/v1
kind: VirtualMachine
metadata: {name: vm-%s}
spec:
  %s
  template:
    spec:
      domain:
        devices: {}
        %s
`, rand.String(5), specLine, memoryLine)
}

func discoveredStatus(dc discovery.DiscoveryInterface, groupVersion, name string) bool {
	list, err := dc.ServerResourcesForGroupVersion(groupVersion)
	if err != nil {
		return false
	}
	for _, r := range list.APIResources {
		if r.Name == name {
			return true
		}
	}
	return false
}

func ptr[T any](v T) *T { return &v }

// asJSON normalises a decoded value through JSON, so numbers compare equal whether a
// decoder produced int64 or float64.
func asJSON(v any) any {
	data, err := json.Marshal(v)
	Expect(err).NotTo(HaveOccurred())
	var out any
	Expect(json.Unmarshal(data, &out)).To(Succeed())
	return out
}
