package functests

import (
	"context"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	k8sv1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/components/virt-operator/install"
	"github.com/hypernest/hypernest/manifests/crds"
)

// componentTimeout: the components start in seconds; a loaded machine may take minutes.
const componentTimeout = 5 * time.Minute

// installHypernest installs the CRDs and every component straight from the install
// package (the objects virt-operator applies; operator_test.go tests the operator
// itself), reusing the PKI of an earlier run, and waits until all are ready.
func installHypernest(ctx context.Context) {
	crdList, err := crds.All()
	Expect(err).NotTo(HaveOccurred())
	Expect(install.Apply(ctx, crClient, installCfg, crdList)).To(Succeed())
	Expect(install.WaitReady(ctx, crClient, installCfg, componentTimeout, func(s string) { By(s) })).To(Succeed())
}

// removeOperator deletes virt-operator (its Deployment and RBAC, not the namespace) and
// waits until its pods are gone. The specs install the components directly, and
// operator_test.go installs the operator from scratch: a virt-operator left running
// (make run installs through it) would put back what they remove, mid-spec.
func removeOperator(ctx context.Context) {
	for _, o := range install.OperatorObjects(installCfg) {
		if _, isNS := o.(*k8sv1.Namespace); !isNS {
			Expect(client.IgnoreNotFound(crClient.Delete(ctx, o))).To(Succeed())
		}
	}
	Eventually(func(g Gomega) {
		pods := &k8sv1.PodList{}
		g.Expect(crClient.List(ctx, pods, client.InNamespace(installCfg.Namespace),
			client.MatchingLabels{v1.AppLabel: install.OperatorName})).To(Succeed())
		var left []string
		for _, p := range pods.Items {
			left = append(left, p.Name)
		}
		g.Expect(left).To(BeEmpty(), "virt-operator pods still running")
	}).WithContext(ctx).WithTimeout(componentTimeout).WithPolling(time.Second).Should(Succeed())
}
