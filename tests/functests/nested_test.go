package functests

import (
	"context"
	"fmt"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
)

// nestedTimeout: a node VM boots Debian with systemd and cloud-init in ~4 min under TCG on
// an idle 2-core machine, then runs kubeadm init or join; three such VMs share the cores.
const nestedTimeout = 40 * time.Minute

var _ = Describe("Nested clusters: kubeadm nodes in Hypernest VMs", Ordered, Label("nested"), func() {
	var clusterctl []string
	var nodeImage string

	BeforeAll(func(ctx SpecContext) {
		nodeImage = os.Getenv("HYPERNEST_NODE_IMAGE")
		if nodeImage == "" {
			Skip("HYPERNEST_NODE_IMAGE is not set: run `make functest`, which builds the node image (make node-image)")
		}
		clusterctl = clusterctlCommand()
		installHypernest(ctx)
		enableFeatureGate(ctx, clusterconfig.GuestAgentBootstrapCheck)
		removeProviders(ctx, clusterctl)
		DeferCleanup(func(ctx SpecContext) { removeProviders(ctx, clusterctl) })
		initProviders(ctx, clusterctl)
	})

	It("makes a working cluster: control plane and worker Ready, pods on the worker reachable across nodes, workers scaled, everything removed with the Cluster", func(ctx SpecContext) {
		ns := newTestNamespace()
		const name = "nested"
		start := time.Now()
		By("clusterctl generate cluster with the node image and the guest-agent bootstrap check, applied")
		manifest := runClusterctl(clusterctl, []string{
			"NODE_VM_IMAGE_TEMPLATE=" + nodeImage,
			"CRI_PATH=unix:///run/containerd/containerd.sock",
			"BOOTSTRAP_CHECK=guest-agent",
		}, "generate", "cluster", name, "--infrastructure", "kubevirt", "--target-namespace", ns,
			"--kubernetes-version", "v1.37.2", "--control-plane-machine-count", "1", "--worker-machine-count", "1")
		for _, o := range decodeAll(manifest) {
			Eventually(func() error { return crClient.Create(ctx, o) }).WithContext(ctx).WithTimeout(apiTimeout).Should(Succeed(), "creating %s %s", o.GetKind(), o.GetName())
		}
		DeferCleanup(func(ctx SpecContext) { deleteCluster(ctx, ns, name) })

		By("the KubeadmControlPlane initializes and its machine is ready")
		Eventually(func(g Gomega) {
			kcp := get(ctx, g, kubeadmControlPlaneGVK, ns, name+"-control-plane")
			initialized, _, _ := unstructured.NestedBool(kcp.Object, "status", "initialization", "controlPlaneInitialized")
			ready, _, _ := unstructured.NestedInt64(kcp.Object, "status", "readyReplicas")
			g.Expect(initialized).To(BeTrue(), "status: %v", kcp.Object["status"])
			g.Expect(ready).To(BeEquivalentTo(1), "status: %v", kcp.Object["status"])
		}).WithContext(ctx).WithTimeout(nestedTimeout).WithPolling(10 * time.Second).Should(Succeed())
		fmt.Fprintf(GinkgoWriter, "control plane ready after %s\n", time.Since(start).Round(time.Second))

		By("clusterctl get kubeconfig reaches the nested API server through the control-plane Service")
		kubeconfig := runClusterctl(clusterctl, nil, "get", "kubeconfig", name, "--namespace", ns)
		restConfig, err := clientcmd.RESTConfigFromKubeConfig([]byte(kubeconfig))
		Expect(err).NotTo(HaveOccurred())
		restConfig.Timeout = 30 * time.Second
		nested, err := kubernetes.NewForConfig(restConfig)
		Expect(err).NotTo(HaveOccurred())

		By("both nodes register, get their provider IDs and go Ready (flannel, from the template's ClusterResourceSet)")
		nodes := waitForNestedNodes(ctx, nested, 2)
		fmt.Fprintf(GinkgoWriter, "2 nodes Ready after %s\n", time.Since(start).Round(time.Second))
		Eventually(func(g Gomega) {
			md := get(ctx, g, machineDeploymentGVK, ns, name+"-md-0")
			ready, _, _ := unstructured.NestedInt64(md.Object, "status", "readyReplicas")
			g.Expect(ready).To(BeEquivalentTo(1), "status: %v", md.Object["status"])
		}).WithContext(ctx).WithTimeout(nestedTimeout).WithPolling(10 * time.Second).Should(Succeed())
		var controlPlane, worker string
		for _, n := range nodes {
			if _, cp := n.Labels["node-role.kubernetes.io/control-plane"]; cp {
				controlPlane = n.Name
			} else {
				worker = n.Name
			}
		}
		Expect(controlPlane).NotTo(BeEmpty())
		Expect(worker).NotTo(BeEmpty())

		By("a pod on the worker serves HTTP; a pod on the control-plane node reaches it over the pod network")
		serverIP := runNestedPod(ctx, nested, worker, "web", k8sv1.PodRunning,
			"/bin/busybox mkdir -p /www && echo hello from the worker > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www")
		Eventually(func(g Gomega) {
			podName := fmt.Sprintf("client-%d", time.Now().UnixNano()%100000)
			runNestedPod(ctx, nested, controlPlane, podName, k8sv1.PodSucceeded, "/bin/busybox wget -q -O - http://"+serverIP+":8080/")
			logs, err := nested.CoreV1().Pods("default").GetLogs(podName, &k8sv1.PodLogOptions{}).DoRaw(ctx)
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(string(logs)).To(Equal("hello from the worker\n"))
		}).WithContext(ctx).WithTimeout(5 * time.Minute).WithPolling(10 * time.Second).Should(Succeed())

		By("scaling the workers to 2, and back to 1")
		scaleWorkers(ctx, ns, name+"-md-0", 2)
		waitForNestedNodes(ctx, nested, 3)
		scaleWorkers(ctx, ns, name+"-md-0", 1)
		Eventually(func(g Gomega) {
			list, err := nested.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			g.Expect(err).NotTo(HaveOccurred())
			g.Expect(list.Items).To(HaveLen(2))
			vms := &v1.VirtualMachineList{}
			g.Expect(crClient.List(ctx, vms, client.InNamespace(ns))).To(Succeed())
			g.Expect(vms.Items).To(HaveLen(2))
		}).WithContext(ctx).WithTimeout(nestedTimeout).WithPolling(10 * time.Second).Should(Succeed())

		By("deleting the Cluster removes every VM, Service and Secret it made")
		deleteCluster(ctx, ns, name)
	})
})

// waitForNestedNodes waits until the nested cluster has count Ready nodes, each with a
// kubevirt:// provider ID, and returns them.
func waitForNestedNodes(ctx context.Context, nested kubernetes.Interface, count int) []k8sv1.Node {
	var nodes []k8sv1.Node
	Eventually(func(g Gomega) {
		list, err := nested.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(list.Items).To(HaveLen(count))
		for _, n := range list.Items {
			g.Expect(n.Spec.ProviderID).To(HavePrefix("kubevirt://"), "node %s", n.Name)
			ready := false
			for _, c := range n.Status.Conditions {
				if c.Type == k8sv1.NodeReady && c.Status == k8sv1.ConditionTrue {
					ready = true
				}
			}
			g.Expect(ready).To(BeTrue(), "node %s is not Ready: %v", n.Name, n.Status.Conditions)
		}
		nodes = list.Items
	}).WithContext(ctx).WithTimeout(nestedTimeout).WithPolling(10 * time.Second).Should(Succeed())
	return nodes
}

// runNestedPod runs a shell command in a pod on a node of the nested cluster, from an
// image every node holds (flannel's, which carries busybox), waits for the phase and
// returns the pod's IP.
func runNestedPod(ctx context.Context, nested kubernetes.Interface, node, name string, phase k8sv1.PodPhase, command string) string {
	pod := &k8sv1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default"},
		Spec: k8sv1.PodSpec{
			NodeName:      node,
			RestartPolicy: k8sv1.RestartPolicyNever,
			Tolerations:   []k8sv1.Toleration{{Operator: k8sv1.TolerationOpExists}},
			Containers: []k8sv1.Container{{
				Name: "main", Image: "localhost/hypernest/flannel:v0.28.10", ImagePullPolicy: k8sv1.PullNever,
				Command: []string{"/bin/busybox", "sh", "-c", command},
			}},
			TerminationGracePeriodSeconds: ptr.To[int64](1),
		},
	}
	Eventually(func() error {
		_, err := nested.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
		return err
	}).WithContext(ctx).WithTimeout(apiTimeout).Should(Succeed())
	var ip string
	Eventually(func(g Gomega) {
		got, err := nested.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(got.Status.Phase).To(Equal(phase), "pod %s: %v", name, got.Status)
		ip = got.Status.PodIP
	}).WithContext(ctx).WithTimeout(10 * time.Minute).WithPolling(5 * time.Second).Should(Succeed())
	return ip
}

// scaleWorkers sets a MachineDeployment's replicas.
func scaleWorkers(ctx context.Context, ns, name string, replicas int64) {
	Eventually(func(g Gomega) {
		md := get(ctx, g, machineDeploymentGVK, ns, name)
		g.Expect(unstructured.SetNestedField(md.Object, replicas, "spec", "replicas")).To(Succeed())
		g.Expect(crClient.Update(ctx, md)).To(Succeed())
	}).WithContext(ctx).WithTimeout(apiTimeout).Should(Succeed())
}
