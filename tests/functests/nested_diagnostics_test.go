package functests

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"syscall"
	"time"

	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// reportNestedCluster writes what explains a nested cluster that did not come up: the
// host's free disk, the Cluster API objects' conditions that are not True, the node VMs'
// phases and conditions, and, when the nested API server answers, its nodes, its pods
// that are not running and ready, and its recent warnings. A TCG guest is too slow to
// keep anything the test could read after the Cluster is deleted, so this runs first.
func reportNestedCluster(ctx context.Context, w io.Writer, ns, name string) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	var st syscall.Statfs_t
	if syscall.Statfs("/", &st) == nil {
		fmt.Fprintf(w, "nested-diag: host /: %d GiB free of %d GiB\n", st.Bavail*uint64(st.Bsize)>>30, st.Blocks*uint64(st.Bsize)>>30)
	}
	for _, gvk := range []struct{ kind, group, version string }{
		{"Cluster", "cluster.x-k8s.io", "v1beta2"},
		{"KubeadmControlPlane", "controlplane.cluster.x-k8s.io", "v1beta2"},
		{"MachineDeployment", "cluster.x-k8s.io", "v1beta2"},
		{"Machine", "cluster.x-k8s.io", "v1beta2"},
		{"KubevirtMachine", "infrastructure.cluster.x-k8s.io", "v1alpha1"},
	} {
		list := &unstructured.UnstructuredList{}
		list.SetAPIVersion(gvk.group + "/" + gvk.version)
		list.SetKind(gvk.kind + "List")
		if err := crClient.List(ctx, list, client.InNamespace(ns)); err != nil {
			fmt.Fprintf(w, "nested-diag: listing %s: %v\n", gvk.kind, err)
			continue
		}
		for _, o := range list.Items {
			phase, _, _ := unstructured.NestedString(o.Object, "status", "phase")
			fmt.Fprintf(w, "nested-diag: %s %s phase=%q not True: %s\n", gvk.kind, o.GetName(), phase, conditionsNotTrue(o))
		}
	}
	vmis := &v1.VirtualMachineInstanceList{}
	if err := crClient.List(ctx, vmis, client.InNamespace(ns)); err == nil {
		for _, vmi := range vmis.Items {
			var conds []string
			for _, c := range vmi.Status.Conditions {
				conds = append(conds, fmt.Sprintf("%s=%s/%s", c.Type, c.Status, c.Reason))
			}
			fmt.Fprintf(w, "nested-diag: VMI %s phase=%s node=%s conditions: %s\n", vmi.Name, vmi.Status.Phase, vmi.Status.NodeName, strings.Join(conds, " "))
		}
	}

	secret := &k8sv1.Secret{}
	if err := crClient.Get(ctx, client.ObjectKey{Namespace: ns, Name: name + "-kubeconfig"}, secret); err != nil {
		fmt.Fprintf(w, "nested-diag: no kubeconfig for the nested cluster: %v\n", err)
		return
	}
	config, err := clientcmd.RESTConfigFromKubeConfig(secret.Data["value"])
	if err != nil {
		fmt.Fprintf(w, "nested-diag: the nested cluster's kubeconfig: %v\n", err)
		return
	}
	config.Timeout = 30 * time.Second
	nested, err := kubernetes.NewForConfig(config)
	if err != nil {
		fmt.Fprintf(w, "nested-diag: a client for the nested cluster: %v\n", err)
		return
	}
	nodes, err := nested.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(w, "nested-diag: the nested API server does not answer: %v\n", err)
		return
	}
	for _, n := range nodes.Items {
		for _, c := range n.Status.Conditions {
			if c.Type == k8sv1.NodeReady {
				fmt.Fprintf(w, "nested-diag: node %s Ready=%s %s: %s (taints %v)\n", n.Name, c.Status, c.Reason, c.Message, n.Spec.Taints)
			}
		}
	}
	pods, err := nested.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
	if err != nil {
		fmt.Fprintf(w, "nested-diag: listing the nested pods: %v\n", err)
		return
	}
	for _, p := range pods.Items {
		fmt.Fprintf(w, "nested-diag: pod %s/%s node=%s phase=%s%s\n", p.Namespace, p.Name, p.Spec.NodeName, p.Status.Phase, containerTroubles(p))
	}
	events, err := nested.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: "type=Warning"})
	if err != nil {
		fmt.Fprintf(w, "nested-diag: listing the nested warnings: %v\n", err)
		return
	}
	sort.Slice(events.Items, func(i, j int) bool {
		return events.Items[i].LastTimestamp.Before(&events.Items[j].LastTimestamp)
	})
	if len(events.Items) > 25 {
		events.Items = events.Items[len(events.Items)-25:]
	}
	for _, e := range events.Items {
		fmt.Fprintf(w, "nested-diag: warning %s %s/%s x%d %s: %s\n", e.LastTimestamp.Format(time.TimeOnly), e.InvolvedObject.Kind, e.InvolvedObject.Name, e.Count, e.Reason, e.Message)
	}
}

// conditionsNotTrue lists "type=status/reason: message" of the conditions that are not
// True (Deleting and Paused read the other way round and are left out).
func conditionsNotTrue(o unstructured.Unstructured) string {
	list, _, _ := unstructured.NestedSlice(o.Object, "status", "conditions")
	var out []string
	for _, c := range list {
		m, _ := c.(map[string]any)
		if m["status"] == "True" || m["type"] == "Deleting" || m["type"] == "Paused" {
			continue
		}
		out = append(out, fmt.Sprintf("%v=%v/%v: %v", m["type"], m["status"], m["reason"], m["message"]))
	}
	return strings.Join(out, "; ")
}

// containerTroubles describes the containers of a pod that are not ready: restarts, why
// they wait, how they last ended.
func containerTroubles(p k8sv1.Pod) string {
	var out []string
	statuses := append(append([]k8sv1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...)
	for _, s := range statuses {
		if s.Ready || (s.State.Terminated != nil && s.State.Terminated.ExitCode == 0) {
			continue
		}
		d := fmt.Sprintf(" %s: restarts=%d", s.Name, s.RestartCount)
		if s.State.Waiting != nil {
			d += fmt.Sprintf(" waiting %s %s", s.State.Waiting.Reason, s.State.Waiting.Message)
		}
		if t := s.LastTerminationState.Terminated; t != nil {
			d += fmt.Sprintf(" last exit %d %s %q", t.ExitCode, t.Reason, lastLine(t.Message))
		}
		out = append(out, d)
	}
	return strings.Join(out, ";")
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
