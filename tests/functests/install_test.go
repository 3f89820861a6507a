package functests

import (
	"context"
	"path/filepath"
	"time"

	. "github.com/onsi/gomega"
	appsv1 "k8s.io/api/apps/v1"
	k8sv1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-operator/install"
	"github.com/hypernest/hypernest/tests/framework"
)

// componentTimeout: the components start in seconds; a loaded machine may take minutes.
const componentTimeout = 3 * time.Minute

// installHypernest installs the CRDs and every component from the install package (what
// virt-operator will apply from the KubeVirt CR, a later issue), reusing the PKI of an
// earlier run, and waits until all are ready.
func installHypernest(ctx context.Context) {
	installCRDs(ctx)
	ns := &k8sv1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: installCfg.Namespace}}
	if err := crClient.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		Expect(err).NotTo(HaveOccurred())
	}
	existing := map[string]*k8sv1.Secret{}
	for _, name := range []string{install.CASecretName, install.APICertSecretName, install.HandlerCertSecretName} {
		s := &k8sv1.Secret{}
		if err := crClient.Get(ctx, client.ObjectKey{Namespace: installCfg.Namespace, Name: name}, s); err == nil {
			existing[name] = s
		}
	}
	pki, _, err := install.PKI(installCfg.Namespace, existing, time.Now())
	Expect(err).NotTo(HaveOccurred())
	for _, obj := range install.Objects(installCfg, pki) {
		apply(ctx, obj)
	}

	for _, name := range []string{install.APIName, install.ControllerName} {
		Eventually(func() int32 {
			d := &appsv1.Deployment{}
			Expect(crClient.Get(ctx, client.ObjectKey{Namespace: installCfg.Namespace, Name: name}, d)).To(Succeed())
			return d.Status.ReadyReplicas
		}).WithTimeout(componentTimeout).Should(BeNumerically(">=", 1), "%s did not become ready", name)
	}
	Eventually(func() int32 {
		ds := &appsv1.DaemonSet{}
		Expect(crClient.Get(ctx, client.ObjectKey{Namespace: installCfg.Namespace, Name: install.HandlerName}, ds)).To(Succeed())
		return ds.Status.NumberReady
	}).WithTimeout(componentTimeout).Should(BeNumerically(">=", 1), "virt-handler did not become ready")
	Eventually(func() string {
		svc := &unstructured.Unstructured{}
		svc.SetAPIVersion("apiregistration.k8s.io/v1")
		svc.SetKind("APIService")
		Expect(crClient.Get(ctx, client.ObjectKey{Name: "v1.subresources.kubevirt.io"}, svc)).To(Succeed())
		conditions, _, _ := unstructured.NestedSlice(svc.Object, "status", "conditions")
		for _, c := range conditions {
			if m, ok := c.(map[string]any); ok && m["type"] == "Available" {
				return m["status"].(string) + " " + m["message"].(string)
			}
		}
		return ""
	}).WithTimeout(componentTimeout).Should(HavePrefix("True"), "the subresources.kubevirt.io APIService is not available")
	Eventually(func() string {
		nodes := &k8sv1.NodeList{}
		Expect(crClient.List(ctx, nodes)).To(Succeed())
		for _, n := range nodes.Items {
			if n.Labels[v1.NodeSchedulable] == "true" && !n.Status.Allocatable.Name(launcherv1.TunResource, "").IsZero() {
				return n.Name
			}
		}
		return ""
	}).WithTimeout(2*time.Minute).ShouldNot(BeEmpty(), "no node is schedulable for VMIs (heartbeat label and device plugins)")
}

// installCRDs applies the generated CRDs.
func installCRDs(ctx context.Context) {
	root, err := framework.RepoRoot()
	Expect(err).NotTo(HaveOccurred())
	files, err := framework.YAMLFiles(filepath.Join(root, "manifests", "crds"))
	Expect(err).NotTo(HaveOccurred())
	for _, f := range files {
		docs, err := framework.ReadYAMLDocuments(f)
		Expect(err).NotTo(HaveOccurred())
		crd := &apiextensionsv1.CustomResourceDefinition{}
		Expect(yaml.Unmarshal(docs[0], crd)).To(Succeed())
		apply(ctx, crd)
	}
	Eventually(func() error {
		return crClient.List(ctx, &v1.VirtualMachineInstanceList{})
	}).WithTimeout(time.Minute).Should(Succeed())
}
