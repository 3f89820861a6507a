package functests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	. "github.com/onsi/ginkgo/v2"
	. "github.com/onsi/gomega"
	"github.com/onsi/gomega/gexec"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/utils/ptr"

	"github.com/hypernest/hypernest/tests/framework"
)

// Timeouts sized for a loaded 2-core machine: a pod normally starts in 1-2 s here, but
// the tests must not flake when the machine is busy building.
const (
	podStartTimeout = 3 * time.Minute
	apiTimeout      = 30 * time.Second
	pollInterval    = 250 * time.Millisecond
)

// newTestNamespace creates a namespace for one spec and deletes it afterwards.
func newTestNamespace() string {
	return createTestNamespace("restricted")
}

// newPrivilegedTestNamespace is a test namespace for pods that need the node (hostPath,
// devices, root).
func newPrivilegedTestNamespace() string {
	return createTestNamespace("privileged")
}

// createTestNamespace makes a namespace whose Pod Security level is enforced. VMs run in
// restricted ones: their launcher pods run as non-root, with no capabilities and the
// runtime's seccomp profile, and a launcher pod that did not would be refused and fail
// the test.
func createTestNamespace(podSecurityLevel string) string {
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	ns, err := kubeClient.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "functest-", Labels: map[string]string{
			"hypernest.io/functest":              "true",
			"pod-security.kubernetes.io/enforce": podSecurityLevel,
		}},
	}, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(func(ctx SpecContext) {
		err := kubeClient.CoreV1().Namespaces().Delete(ctx, ns.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			Expect(err).NotTo(HaveOccurred())
		}
	})
	return ns.Name
}

// testPod is a pod running the test image with the given arguments, restricted the way a
// well-behaved workload is (Pod Security restricted: non-root, no privilege escalation, no
// capabilities, the runtime's seccomp profile).
func testPod(name string, args ...string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{
				Name:            "main",
				Image:           testImage,
				ImagePullPolicy: corev1.PullNever,
				Args:            args,
				SecurityContext: &corev1.SecurityContext{
					RunAsNonRoot:             ptr.To(true),
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
			}},
		},
	}
}

// httpGetFromPod runs a client pod of the test image that GETs url once, and returns
// "<pod phase>: <its output>" (e.g. "Succeeded: 200 hello"); poll it with Eventually, as
// a Service or a guest may answer a moment late.
func httpGetFromPod(namespace, url string) string {
	name := "client-" + rand.String(5)
	createPod(namespace, testPod(name, "get", url))
	pod := waitForPodPhase(namespace, name, corev1.PodSucceeded, corev1.PodFailed)
	return string(pod.Status.Phase) + ": " + podLogs(namespace, name)
}

func createPod(namespace string, pod *corev1.Pod) *corev1.Pod {
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	created, err := kubeClient.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{})
	Expect(err).NotTo(HaveOccurred())
	return created
}

// waitForPodPhase waits until the pod reaches one of the phases, stopping early when it
// failed and Failed is not one of them, and returns the pod.
func waitForPodPhase(namespace, name string, phases ...corev1.PodPhase) *corev1.Pod {
	var pod *corev1.Pod
	Eventually(func(g Gomega) {
		var err error
		pod, err = kubeClient.CoreV1().Pods(namespace).Get(context.Background(), name, metav1.GetOptions{})
		g.Expect(err).NotTo(HaveOccurred())
		if pod.Status.Phase == corev1.PodFailed && !slices.Contains(phases, corev1.PodFailed) {
			StopTrying("pod " + name + " failed: " + podLogs(namespace, name)).Now()
		}
		g.Expect(phases).To(ContainElement(pod.Status.Phase), "pod %s: %s", name, describePod(pod))
	}).WithTimeout(podStartTimeout).WithPolling(pollInterval).Should(Succeed())
	return pod
}

func describePod(pod *corev1.Pod) string {
	var parts []string
	for _, c := range pod.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Message != "" {
			parts = append(parts, string(c.Type)+": "+c.Message)
		}
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.State.Waiting != nil {
			parts = append(parts, cs.Name+" waiting: "+cs.State.Waiting.Reason+" "+cs.State.Waiting.Message)
		}
	}
	return strings.Join(parts, "; ")
}

func podLogs(namespace, name string) string {
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	data, err := kubeClient.CoreV1().Pods(namespace).GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
	if err != nil {
		return "(no logs: " + err.Error() + ")"
	}
	return string(data)
}

// execInPod runs a command in the pod's first container through the apiserver and the
// kubelet, as `kubectl exec` does, and returns its stdout.
func execInPod(namespace, name string, command ...string) (string, string, error) {
	req := kubeClient.CoreV1().RESTClient().Post().Resource("pods").Namespace(namespace).Name(name).
		SubResource("exec").VersionedParams(&corev1.PodExecOptions{
		Command: command, Stdout: true, Stderr: true,
	}, scheme.ParameterCodec)
	executor, err := remotecommand.NewWebSocketExecutor(restConfig, "GET", req.URL().String())
	if err != nil {
		return "", "", err
	}
	var stdout, stderr bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), apiTimeout)
	defer cancel()
	err = executor.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &stdout, Stderr: &stderr})
	return stdout.String(), stderr.String(), err
}

// toJSON renders v for failure messages.
func toJSON(v any) string {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err.Error()
	}
	return string(data)
}

// installWithVirtctl is the BeforeAll of a Describe that drives VMs with virtctl: it
// installs Hypernest, builds virtctl (removed after the Describe) and returns its path.
func installWithVirtctl(ctx context.Context) string {
	installHypernest(ctx)
	virtctl, err := buildVirtctl()
	Expect(err).NotTo(HaveOccurred())
	DeferCleanup(gexec.CleanupBuildArtifacts)
	return virtctl
}

// buildVirtctl builds virtctl from this checkout as `make virtctl` does: with the version
// hack/version.sh stamps (GOFLAGS has -buildvcs=false, so the go command stamps none).
func buildVirtctl() (string, error) {
	root, err := framework.RepoRoot()
	if err != nil {
		return "", err
	}
	ldflags, err := exec.Command(filepath.Join(root, "hack", "version.sh"), "ldflags").Output()
	if err != nil {
		return "", fmt.Errorf("hack/version.sh ldflags: %w", err)
	}
	return gexec.Build("github.com/hypernest/hypernest/components/virtctl", "-ldflags", strings.TrimSpace(string(ldflags)))
}
