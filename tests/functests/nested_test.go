package functests

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	k8sv1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
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

// nestedAPITimeout: the nested API server runs in a TCG guest, at a load average of 20
// while its cluster settles; a request can take tens of seconds, and a new pod is
// refused until the controller manager has made the namespace's service account.
const nestedAPITimeout = 5 * time.Minute

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
		// Cleanups run last-in first-out: this reads the cluster before it is deleted.
		DeferCleanup(func(ctx SpecContext) {
			if CurrentSpecReport().Failed() {
				reportNestedCluster(ctx, GinkgoWriter, ns, name)
			}
		})

		By("the KubeadmControlPlane initializes and its machine is ready")
		Eventually(func(g Gomega) {
			kcp := get(ctx, g, kubeadmControlPlaneGVK, ns, name+"-control-plane")
			initialized, _, _ := unstructured.NestedBool(kcp.Object, "status", "initialization", "controlPlaneInitialized")
			ready, _, _ := unstructured.NestedInt64(kcp.Object, "status", "readyReplicas")
			g.Expect(initialized).To(BeTrue(), "status: %v", kcp.Object["status"])
			g.Expect(ready).To(BeEquivalentTo(1), "status: %v", kcp.Object["status"])
		}).WithContext(ctx).WithTimeout(nestedTimeout).WithPolling(10 * time.Second).Should(Succeed())
		fmt.Fprintf(GinkgoWriter, "nested-bench: kubectl apply -> control plane initialized and ready: %s\n", time.Since(start).Round(time.Second))

		By("clusterctl get kubeconfig reaches the nested API server through the control-plane Service")
		kubeconfig := runClusterctl(clusterctl, nil, "get", "kubeconfig", name, "--namespace", ns)
		restConfig, err := clientcmd.RESTConfigFromKubeConfig([]byte(kubeconfig))
		Expect(err).NotTo(HaveOccurred())
		restConfig.Timeout = 30 * time.Second
		nested, err := kubernetes.NewForConfig(restConfig)
		Expect(err).NotTo(HaveOccurred())

		By("both nodes register, get their provider IDs and go Ready (flannel, from the template's ClusterResourceSet)")
		nodes := waitForNestedNodes(ctx, nested, 2)
		// The figures `make bench` prints (hack/bench/nested.sh reads these lines).
		fmt.Fprintf(GinkgoWriter, "nested-bench: kubectl apply -> all 2 nodes Ready: %s\n", time.Since(start).Round(time.Second))
		reportNodeVMMemory(ctx, ns)
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
		// Pods on the control-plane node wait for its flanneld, which a loaded TCG node
		// restarts a few times (API timeouts) before it writes /run/flannel/subnet.env; a
		// client that ran too early and failed is replaced by a new one.
		serverIP := runNestedPod(ctx, nested, worker, "web", "/bin/busybox mkdir -p /www && echo hello from the worker > /www/index.html && exec /bin/busybox httpd -f -p 8080 -h /www", k8sv1.PodRunning)
		deadline := time.Now().Add(nestedTimeout)
		for attempt := 1; ; attempt++ {
			podName := fmt.Sprintf("client-%d", attempt)
			runNestedPod(ctx, nested, controlPlane, podName, "/bin/busybox wget -q -O - http://"+serverIP+":8080/", k8sv1.PodSucceeded, k8sv1.PodFailed)
			logs, err := nested.CoreV1().Pods("default").GetLogs(podName, &k8sv1.PodLogOptions{}).DoRaw(ctx)
			if err == nil && string(logs) == "hello from the worker\n" {
				break
			}
			Expect(time.Now().Before(deadline)).To(BeTrue(), "the control-plane node's pod never reached the worker's: last attempt %s: %s %v", podName, logs, err)
		}
		fmt.Fprintf(GinkgoWriter, "nested-bench: kubectl apply -> a pod on the control-plane node reached one on the worker: %s\n", time.Since(start).Round(time.Second))

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

// reportNodeVMMemory prints, for each node VM of the namespace, its guest memory, its
// launcher pod's memory request and the pod's working set as the kubelet reports it.
func reportNodeVMMemory(ctx context.Context, ns string) {
	vmis := &v1.VirtualMachineInstanceList{}
	Expect(crClient.List(ctx, vmis, client.InNamespace(ns))).To(Succeed())
	for _, vmi := range vmis.Items {
		pods := &k8sv1.PodList{}
		Expect(crClient.List(ctx, pods, client.InNamespace(ns), client.MatchingLabels{v1.CreatedByLabel: string(vmi.UID)})).To(Succeed())
		if len(pods.Items) == 0 || vmi.Spec.Domain.Memory == nil || vmi.Spec.Domain.Memory.Guest == nil {
			continue
		}
		pod := pods.Items[0]
		var request int64
		for _, c := range pod.Spec.Containers {
			request += c.Resources.Requests.Memory().Value()
		}
		guest := vmi.Spec.Domain.Memory.Guest.Value()
		workingSet := podWorkingSetFromKubelet(ctx, pod)
		used := "the guest has not touched all its memory yet"
		if workingSet >= guest {
			used = fmt.Sprintf("%d MiB above the guest's", (workingSet-guest)>>20)
		}
		fmt.Fprintf(GinkgoWriter, "nested-bench: node VM %s: guest %d MiB, launcher pod request %d MiB (reserved overhead %d MiB), working set %d MiB (%s)\n",
			vmi.Name, guest>>20, request>>20, (request-guest)>>20, workingSet>>20, used)
	}
}

// podWorkingSetFromKubelet reads a pod's memory working set from its node's kubelet
// (the summary API, through the API server), as `kubectl top` does; 0 if unknown.
func podWorkingSetFromKubelet(ctx context.Context, pod k8sv1.Pod) int64 {
	raw, err := kubeClient.CoreV1().RESTClient().Get().AbsPath("/api/v1/nodes", pod.Spec.NodeName, "proxy", "stats", "summary").DoRaw(ctx)
	if err != nil {
		fmt.Fprintf(GinkgoWriter, "no kubelet summary from node %s: %v\n", pod.Spec.NodeName, err)
		return 0
	}
	var summary struct {
		Pods []struct {
			PodRef struct {
				UID string `json:"uid"`
			} `json:"podRef"`
			Memory *struct {
				WorkingSetBytes *int64 `json:"workingSetBytes"`
			} `json:"memory"`
		} `json:"pods"`
	}
	Expect(json.Unmarshal(raw, &summary)).To(Succeed())
	for _, p := range summary.Pods {
		if p.PodRef.UID == string(pod.UID) && p.Memory != nil && p.Memory.WorkingSetBytes != nil {
			return *p.Memory.WorkingSetBytes
		}
	}
	return 0
}

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
// image every node holds (flannel's, which carries busybox), waits for one of the phases and
// returns the pod's IP.
func runNestedPod(ctx context.Context, nested kubernetes.Interface, node, name, command string, phases ...k8sv1.PodPhase) string {
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
		if apierrors.IsAlreadyExists(err) {
			return nil // an earlier attempt got through, its answer did not
		}
		return err
	}).WithContext(ctx).WithTimeout(nestedAPITimeout).WithPolling(5 * time.Second).Should(Succeed())
	var ip string
	Eventually(func(g Gomega) {
		got, err := nested.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		g.Expect(phases).To(ContainElement(got.Status.Phase), "pod %s: %v", name, got.Status)
		ip = got.Status.PodIP
	}).WithContext(ctx).WithTimeout(nestedTimeout).WithPolling(5 * time.Second).Should(Succeed())
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
