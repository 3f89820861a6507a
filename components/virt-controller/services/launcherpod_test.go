package services

import (
	"strings"
	"testing"

	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

func claimVolume(name, claim string, readOnly bool) v1.Volume {
	return v1.Volume{Name: name, VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{
		PersistentVolumeClaimVolumeSource: k8sv1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: readOnly},
	}}}
}

// Filesystem-mode claims are mounted where the launcher looks for disk.img, block-mode
// claims are device nodes at /dev/<volume>, as in KubeVirt's launcher pods.
func TestLauncherPodClaims(t *testing.T) {
	vmi := &v1.VirtualMachineInstance{
		ObjectMeta: metav1.ObjectMeta{Name: "vm", Namespace: "ns", UID: "uid"},
		Spec: v1.VirtualMachineInstanceSpec{
			Domain:  v1.DomainSpec{Resources: v1.ResourceRequirements{Requests: k8sv1.ResourceList{k8sv1.ResourceMemory: resource.MustParse("128Mi")}}},
			Volumes: []v1.Volume{claimVolume("data", "fs-claim", false), claimVolume("raw", "block-claim", true)},
		},
	}
	block := k8sv1.PersistentVolumeBlock
	claims := map[string]*k8sv1.PersistentVolumeClaim{
		"fs-claim":    {ObjectMeta: metav1.ObjectMeta{Name: "fs-claim"}},
		"block-claim": {ObjectMeta: metav1.ObjectMeta{Name: "block-claim"}, Spec: k8sv1.PersistentVolumeClaimSpec{VolumeMode: &block}},
	}
	pod, err := RenderLauncherPod(vmi, LauncherPodConfig{Image: "launcher", UseEmulation: true}, claims)
	if err != nil {
		t.Fatal(err)
	}
	wantVolumes := map[string]k8sv1.PersistentVolumeClaimVolumeSource{
		"pvc-data": {ClaimName: "fs-claim"},
		"pvc-raw":  {ClaimName: "block-claim", ReadOnly: true},
	}
	for _, vol := range pod.Spec.Volumes {
		if want, ok := wantVolumes[vol.Name]; ok {
			if vol.PersistentVolumeClaim == nil || !equality.Semantic.DeepEqual(*vol.PersistentVolumeClaim, want) {
				t.Errorf("pod volume %s: %+v, want %+v", vol.Name, vol.VolumeSource, want)
			}
			delete(wantVolumes, vol.Name)
		}
	}
	if len(wantVolumes) > 0 {
		t.Errorf("the pod lacks volumes %v", wantVolumes)
	}
	compute := pod.Spec.Containers[0]
	var mounted bool
	for _, m := range compute.VolumeMounts {
		if m.Name == "pvc-data" {
			mounted = m.MountPath == "/var/run/kubevirt-private/vmi-disks/data" && !m.ReadOnly
		}
		if m.Name == "pvc-raw" {
			t.Errorf("the block-mode claim is mounted: %+v", m)
		}
	}
	if !mounted {
		t.Errorf("the filesystem-mode claim is not mounted at vmi-disks/data: %+v", compute.VolumeMounts)
	}
	if want := []k8sv1.VolumeDevice{{Name: "pvc-raw", DevicePath: "/dev/raw"}}; !equality.Semantic.DeepEqual(compute.VolumeDevices, want) {
		t.Errorf("volume devices %+v, want %+v", compute.VolumeDevices, want)
	}

	delete(claims, "block-claim")
	if _, err := RenderLauncherPod(vmi, LauncherPodConfig{Image: "launcher"}, claims); err == nil || !strings.Contains(err.Error(), `volume "raw"`) {
		t.Errorf("a claim not looked up: error %v, want one naming the volume", err)
	}
}
