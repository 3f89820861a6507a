package migration

import (
	"fmt"

	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/components/virt-controller/services"
)

// hostnameTopologyKey spreads a VMI's pods over nodes: one per node.
const hostnameTopologyKey = "kubernetes.io/hostname"

// RenderTargetPod is the launcher pod a migration moves vmi into: the pod the VMI
// controller renders for it, plus what makes it a migration's target, as KubeVirt's:
//   - the label kubevirt.io/migrationJobUID and the annotation kubevirt.io/migrationJobName,
//     which tie it to the migration;
//   - a required pod anti-affinity to every pod of the VMI (kubevirt.io/created-by) per
//     node, so the scheduler places it on another node than the source;
//   - the migration's addedNodeSelector, which can only narrow the choice: on a key both
//     set, the VMI's own selector wins.
//
// The default kube-scheduler then picks the node.
func RenderTargetPod(vmim *v1.VirtualMachineInstanceMigration, vmi *v1.VirtualMachineInstance, source *k8sv1.Pod, cfg services.LauncherPodConfig, claims map[string]*k8sv1.PersistentVolumeClaim) (*k8sv1.Pod, error) {
	if source == nil {
		return nil, fmt.Errorf("the VMI %s/%s has no launcher pod on its node %q to migrate from", vmi.Namespace, vmi.Name, vmi.Status.NodeName)
	}
	pod, err := services.RenderLauncherPod(vmi, cfg, claims)
	if err != nil {
		return nil, err
	}
	// The VMI's labels by now include the node it runs on, which is not this pod's.
	delete(pod.Labels, v1.NodeNameLabel)
	delete(pod.Labels, v1.MigrationTargetNodeNameLabel)
	pod.Labels[v1.MigrationJobLabel] = string(vmim.UID)
	pod.Annotations[v1.MigrationJobNameAnnotation] = vmim.Name

	for k, val := range vmim.Spec.AddedNodeSelector {
		if _, own := pod.Spec.NodeSelector[k]; !own {
			pod.Spec.NodeSelector[k] = val
		}
	}

	// RenderLauncherPod's affinity is a copy of the VMI's: safe to extend.
	if pod.Spec.Affinity == nil {
		pod.Spec.Affinity = &k8sv1.Affinity{}
	}
	if pod.Spec.Affinity.PodAntiAffinity == nil {
		pod.Spec.Affinity.PodAntiAffinity = &k8sv1.PodAntiAffinity{}
	}
	anti := pod.Spec.Affinity.PodAntiAffinity
	anti.RequiredDuringSchedulingIgnoredDuringExecution = append(anti.RequiredDuringSchedulingIgnoredDuringExecution, k8sv1.PodAffinityTerm{
		LabelSelector: &metav1.LabelSelector{MatchLabels: map[string]string{v1.CreatedByLabel: string(vmi.UID)}},
		TopologyKey:   hostnameTopologyKey,
	})
	return pod, nil
}
