package functests

import (
	"fmt"
	"os"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

var _ = Describe("The cluster", func() {
	It("has a Ready, schedulable node", func(ctx SpecContext) {
		nodes, err := kubeClient.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		Expect(err).NotTo(HaveOccurred())
		Expect(nodes.Items).NotTo(BeEmpty())
		ready := 0
		for _, node := range nodes.Items {
			for _, c := range node.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue && !node.Spec.Unschedulable {
					ready++
				}
			}
		}
		Expect(ready).To(BeNumerically(">=", 1), "no Ready, schedulable node")
	})

	It("runs a pod from a locally built image, with logs and exec", func() {
		ns := newTestNamespace()
		createPod(ns, testPod("server", "serve"))
		waitForPodPhase(ns, "server", corev1.PodRunning)

		By("reading the container's logs through the apiserver and the kubelet")
		Eventually(func() string { return podLogs(ns, "server") }).
			WithTimeout(apiTimeout).Should(ContainSubstring("serving on :8080"))

		By("running a command in the container, as kubectl exec does")
		stdout, stderr, err := execInPod(ns, "server", "/testserver", "echo", "hello", "from", "exec")
		Expect(err).NotTo(HaveOccurred(), "stderr: %s", stderr)
		Expect(stdout).To(Equal("hello from exec\n"))
	})

	It("routes a Service to its pod, by cluster DNS name", func(ctx SpecContext) {
		ns := newTestNamespace()
		createPod(ns, testPod("web", "serve"))
		_, err := kubeClient.CoreV1().Services(ns).Create(ctx, &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "web"},
			Spec: corev1.ServiceSpec{
				Selector: map[string]string{"app": "web"},
				Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
			},
		}, metav1.CreateOptions{})
		Expect(err).NotTo(HaveOccurred())
		waitForPodPhase(ns, "web", corev1.PodRunning)

		url := fmt.Sprintf("http://web.%s.svc.cluster.local/", ns)
		// The Service's endpoints reach kube-proxy a moment after the pod is Running.
		Eventually(func() string { return httpGetFromPod(ns, url) }).WithTimeout(podStartTimeout).WithPolling(pollInterval).Should(Equal("Succeeded: 200 hello from web\n"))
	})

	It("lets pods reach the apiserver through the kubernetes Service", func() {
		ns := newTestNamespace()
		pod := testPod("apiclient", "get", "https://kubernetes.default.svc/version")
		pod.Spec.AutomountServiceAccountToken = ptr.To(true)
		createPod(ns, pod)
		waitForPodPhase(ns, "apiclient", corev1.PodSucceeded)
		Expect(podLogs(ns, "apiclient")).To(And(HavePrefix("200 "), ContainSubstring(`"gitVersion"`)))
	})

	It("gives privileged pods /dev/kvm, /dev/net/tun and hostPath volumes", func() {
		ns := newPrivilegedTestNamespace()
		// /dev/kvm only where the machine has one (KVM, or a nested-virt stub): guests
		// under emulation do not need it, and some machines this runs on have none.
		paths := []string{"/dev/net/tun", "/host-run"}
		if _, err := os.Stat("/dev/kvm"); err == nil {
			paths = append([]string{"/dev/kvm"}, paths...)
		}
		want := ""
		for _, p := range paths {
			want += "opened " + p + "\n"
		}
		pod := testPod("node-agent", append([]string{"open"}, paths...)...)
		pod.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{
			Privileged: ptr.To(true),
			RunAsUser:  ptr.To[int64](0),
		}
		pod.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "host-run", MountPath: "/host-run"}}
		pod.Spec.Volumes = []corev1.Volume{{Name: "host-run", VolumeSource: corev1.VolumeSource{
			HostPath: &corev1.HostPathVolumeSource{Path: "/run", Type: ptr.To(corev1.HostPathDirectory)},
		}}}
		createPod(ns, pod)
		waitForPodPhase(ns, "node-agent", corev1.PodSucceeded)
		Expect(podLogs(ns, "node-agent")).To(Equal(want))
	})
})
