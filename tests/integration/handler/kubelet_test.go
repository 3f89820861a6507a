package handler_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"time"

	. "github.com/onsi/ginkgo/v2"
	k8sv1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/tests/framework"
)

// runLaunchers does the scheduler's and the kubelet's part for launcher pods until ctx
// ends: it binds each new one to nodeName, starts its virt-launcher (as Nobody, on the
// pod's folders under kubeletPods) and reports the pod Running; when the launcher exits
// the pod ends Succeeded or Failed by its exit code; a deleted pod's processes are killed
// and the pod removed. It does not stand in for any part of Hypernest.
func runLaunchers(ctx context.Context) {
	defer GinkgoRecover()
	// Only this goroutine reads and writes these.
	started := map[types.UID]bool{}
	rejected := map[string]bool{} // VMI UIDs whose first pod was refused
	for ctx.Err() == nil {
		pods, err := kubeClient.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: v1.AppLabel + "=" + launcherv1.AppLabelValue})
		if err == nil {
			for i := range pods.Items {
				p := &pods.Items[i]
				switch {
				case p.DeletionTimestamp != nil:
					framework.KillProcessesOf(podDir(p.UID))
					_ = kubeClient.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
				case !started[p.UID] && p.Labels[rejectFirstPodLabel] == "true" && !rejected[p.Labels[v1.CreatedByLabel]]:
					if err := rejectPod(ctx, p); err != nil {
						GinkgoWriter.Printf("kubelet stand-in: pod %s/%s: %v\n", p.Namespace, p.Name, err)
						continue
					}
					started[p.UID], rejected[p.Labels[v1.CreatedByLabel]] = true, true
				case !started[p.UID]:
					if err := startLauncherPod(ctx, p); err != nil {
						GinkgoWriter.Printf("kubelet stand-in: pod %s/%s: %v\n", p.Namespace, p.Name, err)
						continue
					}
					started[p.UID] = true
				}
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// launcherRoots holds each pod's launcher folders (by pod UID).
var launcherRoots sync.Map

func podDir(uid types.UID) string {
	if root, ok := launcherRoots.Load(uid); ok {
		return root.(string)
	}
	return filepath.Join(kubeletPods, string(uid))
}

// killAllLaunchers stops every launcher the suite started, with its libvirtd and QEMU.
func killAllLaunchers() {
	launcherRoots.Range(func(_, root any) bool {
		framework.KillProcessesOf(root.(string))
		_ = os.RemoveAll(root.(string))
		return true
	})
}

func startLauncherPod(ctx context.Context, p *k8sv1.Pod) error {
	if err := bindToNode(ctx, p); err != nil {
		return err
	}
	// The launcher's folders live under a short path, linked from where the kubelet
	// keeps the pod's sockets volume (a unix socket's path has at most 107 bytes; in a
	// pod the launcher sees its volume mounted at a short path too).
	root, err := os.MkdirTemp("", "hl-")
	if err != nil {
		return err
	}
	launcherRoots.Store(p.UID, root)
	if err := os.Chmod(root, 0o755); err != nil {
		return err
	}
	dirs, err := framework.NewLauncherDirs(filepath.Join(root, "sockets"), filepath.Join(root, "private"), filepath.Join(root, "container-disks"), demoDisk)
	if err != nil {
		return err
	}
	onNode := launcherv1.SocketsDirOnNode(kubeletPods, string(p.UID))
	if err := os.MkdirAll(filepath.Dir(onNode), 0o755); err != nil {
		return err
	}
	if err := os.Symlink(dirs.Sockets, onNode); err != nil {
		return err
	}
	cmd := dirs.Command(launcherBinary)
	cmd.Stdout, cmd.Stderr = GinkgoWriter, GinkgoWriter
	if err := cmd.Start(); err != nil {
		return err
	}
	go func() {
		phase := k8sv1.PodSucceeded
		if cmd.Wait() != nil { // a non-zero exit, or killed
			phase = k8sv1.PodFailed
		}
		setPodPhase(context.Background(), p, phase)
	}()
	setPodPhase(ctx, p, k8sv1.PodRunning)
	return nil
}

// bindToNode does the scheduler's part: it binds the pod to this suite's node.
func bindToNode(ctx context.Context, p *k8sv1.Pod) error {
	if p.Spec.NodeName != "" {
		return nil
	}
	binding := &k8sv1.Binding{
		ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID},
		Target:     k8sv1.ObjectReference{Kind: "Node", Name: nodeName},
	}
	return kubeClient.CoreV1().Pods(p.Namespace).Bind(ctx, binding, metav1.CreateOptions{})
}

// rejectFirstPodLabel on a VMI (its pods carry its labels) makes the stand-in refuse the
// VMI's first launcher pod at admission, as a kubelet does while virt-handler's device
// plugins re-register.
const rejectFirstPodLabel = "test.hypernest.io/kubelet-rejects-first-pod"

// rejectPod binds the pod and fails it as the kubelet's admission does, in the kubelet's
// words, starting nothing.
func rejectPod(ctx context.Context, p *k8sv1.Pod) error {
	if err := bindToNode(ctx, p); err != nil {
		return err
	}
	pod, err := kubeClient.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	pod.Status.Phase = k8sv1.PodFailed
	pod.Status.Reason = "UnexpectedAdmissionError"
	pod.Status.Message = "Pod was rejected: Allocate failed due to no healthy devices present; cannot allocate unhealthy devices devices.kubevirt.io/tun, which is unexpected"
	_, err = kubeClient.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{})
	return err
}

// setPodPhase writes the status a kubelet would: scheduled, and the compute container
// running (or terminated).
func setPodPhase(ctx context.Context, p *k8sv1.Pod, phase k8sv1.PodPhase) {
	for range 10 {
		pod, err := kubeClient.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && pod.UID != p.UID) {
			return
		}
		if err != nil {
			time.Sleep(200 * time.Millisecond) // the apiserver is busy: not a tight loop
			continue
		}
		now := metav1.Now()
		ready := k8sv1.ConditionFalse
		state := k8sv1.ContainerState{Terminated: &k8sv1.ContainerStateTerminated{FinishedAt: now}}
		if phase == k8sv1.PodRunning {
			ready = k8sv1.ConditionTrue
			state = k8sv1.ContainerState{Running: &k8sv1.ContainerStateRunning{StartedAt: now}}
		}
		pod.Status.Phase = phase
		pod.Status.Conditions = []k8sv1.PodCondition{
			{Type: k8sv1.PodScheduled, Status: k8sv1.ConditionTrue, LastTransitionTime: now},
			{Type: k8sv1.PodReady, Status: ready, LastTransitionTime: now},
		}
		pod.Status.ContainerStatuses = nil
		for _, c := range pod.Spec.Containers {
			pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, k8sv1.ContainerStatus{Name: c.Name, Image: c.Image, State: state, Ready: ready == k8sv1.ConditionTrue})
		}
		if _, err := kubeClient.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, pod, metav1.UpdateOptions{}); err == nil || !apierrors.IsConflict(err) {
			return
		}
	}
}
