package migration

import (
	"testing"

	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/components/virt-controller/services"
)

func TestRenderTargetPod(t *testing.T) {
	ownTerm := k8sv1.PodAffinityTerm{LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, TopologyKey: "zone"}
	vmi := &v1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{Name: "guest", Namespace: "ns", UID: "vmi-uid", Labels: map[string]string{
			"app": "web", v1.NodeNameLabel: "node-a", v1.MigrationTargetNodeNameLabel: "node-b",
		}},
		Spec: v1.VirtualMachineInstanceSpec{
			Domain:       v1.DomainSpec{Memory: &v1.Memory{Guest: ptr.To(resource.MustParse("128Mi"))}},
			NodeSelector: map[string]string{"disk": "ssd"},
			Affinity:     &k8sv1.Affinity{PodAntiAffinity: &k8sv1.PodAntiAffinity{RequiredDuringSchedulingIgnoredDuringExecution: []k8sv1.PodAffinityTerm{ownTerm}}},
		},
		Status: v1.VirtualMachineInstanceStatus{NodeName: "node-a"},
	}
	vmim := &v1.VirtualMachineInstanceMigration{
		ObjectMeta: metav1.ObjectMeta{Name: "move", Namespace: "ns", UID: "vmim-uid"},
		Spec:       v1.VirtualMachineInstanceMigrationSpec{VMIName: "guest", AddedNodeSelector: map[string]string{"disk": "hdd", "rack": "r1"}},
	}
	source := &k8sv1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "virt-launcher-guest-abcde"}}
	pod, err := RenderTargetPod(vmim, vmi, source, services.LauncherPodConfig{Image: "launcher", UseEmulation: true}, nil)
	if err != nil {
		t.Fatal(err)
	}

	if pod.Labels[v1.MigrationJobLabel] != "vmim-uid" || pod.Annotations[v1.MigrationJobNameAnnotation] != "move" {
		t.Errorf("the pod is not tied to its migration: labels %v, annotations %v", pod.Labels, pod.Annotations)
	}
	if pod.Labels[v1.CreatedByLabel] != "vmi-uid" || pod.Labels["app"] != "web" {
		t.Errorf("the pod lost the VMI's labels: %v", pod.Labels)
	}
	for _, k := range []string{v1.NodeNameLabel, v1.MigrationTargetNodeNameLabel} {
		if _, ok := pod.Labels[k]; ok {
			t.Errorf("the pod carries the VMI's node label %s", k)
		}
	}
	// The VMI's own selector wins a shared key; the migration's only adds.
	if pod.Spec.NodeSelector["disk"] != "ssd" || pod.Spec.NodeSelector["rack"] != "r1" || pod.Spec.NodeSelector[v1.NodeSchedulable] != "true" {
		t.Errorf("node selector %v: want disk=ssd (the VMI's), rack=r1 (added) and %s=true", pod.Spec.NodeSelector, v1.NodeSchedulable)
	}
	terms := pod.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	if len(terms) != 2 || terms[0].TopologyKey != "zone" || terms[1].TopologyKey != hostnameTopologyKey ||
		terms[1].LabelSelector.MatchLabels[v1.CreatedByLabel] != "vmi-uid" {
		t.Errorf("anti-affinity terms %+v: want the VMI's own, then one per node against the VMI's pods", terms)
	}
	if got := vmi.Spec.Affinity.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution; len(got) != 1 {
		t.Errorf("the VMI's affinity was changed: %+v", got)
	}

	if _, err := RenderTargetPod(vmim, vmi, nil, services.LauncherPodConfig{Image: "launcher", UseEmulation: true}, nil); err == nil {
		t.Error("a VMI without a source pod must not get a target pod")
	}
}
