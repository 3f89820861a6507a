// Package services holds what virt-controller renders for a VMI; today the virt-launcher
// pod that runs it, per the contract in api/launcher/v1.
package services

import (
	"fmt"
	"path/filepath"

	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/defaults"
	"github.com/hypernest/hypernest/api/core/v1/validation"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

// defaultCPURequest is the CPU a launcher pod requests when the VMI asks for none
// (KubeVirt's cpuRequest default).
var defaultCPURequest = resource.MustParse("100m")

// podGraceExtra is added to the VMI's grace period for the pod: the launcher needs the
// guest's grace period to shut it down, and a little more to report and exit.
const podGraceExtra = 15

// LauncherPodConfig is the cluster configuration the pod depends on.
type LauncherPodConfig struct {
	// Image of virt-launcher.
	Image string
	// ImagePullPolicy of the launcher and of containerDisks without their own.
	ImagePullPolicy k8sv1.PullPolicy
	// UseEmulation: no /dev/kvm is requested, the guest runs under TCG.
	UseEmulation bool
}

// RenderLauncherPod renders the pod that runs vmi. claims holds the PersistentVolumeClaims
// the VMI's persistentVolumeClaim volumes name, by claim name: their volume mode decides
// between a mounted folder and a device node.
func RenderLauncherPod(vmi *v1.VirtualMachineInstance, cfg LauncherPodConfig, claims map[string]*k8sv1.PersistentVolumeClaim) (*k8sv1.Pod, error) {
	spec := vmi.DeepCopy()
	defaults.SetVirtualMachineInstanceSpecDefaults(&spec.Spec)

	labels := map[string]string{}
	for k, val := range vmi.Labels {
		labels[k] = val
	}
	labels[v1.AppLabel] = launcherv1.AppLabelValue
	labels[v1.CreatedByLabel] = string(vmi.UID)
	labels[v1.VirtualMachineInstanceIDLabel] = v1.VirtualMachineInstanceID(vmi.Name)

	guest := validation.GuestMemory(&spec.Spec.Domain)
	if guest == nil {
		return nil, fmt.Errorf("spec.domain.memory.guest: the VMI sets neither memory.guest nor resources.requests.memory")
	}
	memory := guest.DeepCopy()
	if !spec.Spec.Domain.Resources.OvercommitGuestOverhead {
		memory.Add(launcherv1.MemoryOverhead(spec, cfg.UseEmulation))
	}
	cpu := defaultCPURequest
	if req, ok := spec.Spec.Domain.Resources.Requests[k8sv1.ResourceCPU]; ok {
		cpu = req
	}
	requests := k8sv1.ResourceList{k8sv1.ResourceMemory: memory, k8sv1.ResourceCPU: cpu}
	limits := k8sv1.ResourceList{}
	if lim, ok := spec.Spec.Domain.Resources.Limits[k8sv1.ResourceMemory]; ok {
		lim = lim.DeepCopy()
		lim.Add(launcherv1.MemoryOverhead(spec, cfg.UseEmulation))
		limits[k8sv1.ResourceMemory] = lim
	}
	if lim, ok := spec.Spec.Domain.Resources.Limits[k8sv1.ResourceCPU]; ok {
		limits[k8sv1.ResourceCPU] = lim
	}
	one := resource.MustParse("1")
	if !cfg.UseEmulation {
		requests[launcherv1.KVMResource], limits[launcherv1.KVMResource] = one, one
	}
	if len(spec.Spec.Domain.Devices.Interfaces) > 0 {
		requests[launcherv1.TunResource], limits[launcherv1.TunResource] = one, one
	}

	grace := v1.DefaultGracePeriodSeconds
	if spec.Spec.TerminationGracePeriodSeconds != nil {
		grace = *spec.Spec.TerminationGracePeriodSeconds
	}

	volumes := []k8sv1.Volume{
		{Name: launcherv1.SocketsVolume, VolumeSource: k8sv1.VolumeSource{EmptyDir: &k8sv1.EmptyDirVolumeSource{}}},
		{Name: launcherv1.PrivateVolume, VolumeSource: k8sv1.VolumeSource{EmptyDir: &k8sv1.EmptyDirVolumeSource{}}},
	}
	mounts := []k8sv1.VolumeMount{
		{Name: launcherv1.SocketsVolume, MountPath: launcherv1.SocketsDir},
		{Name: launcherv1.PrivateVolume, MountPath: launcherv1.PrivateDir},
	}
	if fw := spec.Spec.Domain.Firmware; fw != nil && fw.KernelBoot != nil && fw.KernelBoot.Container != nil {
		// The kernel and initrd are read from the image itself, as containerDisks are.
		c := fw.KernelBoot.Container
		volumes = append(volumes, k8sv1.Volume{Name: kernelBootVolume, VolumeSource: k8sv1.VolumeSource{
			Image: &k8sv1.ImageVolumeSource{Reference: c.Image, PullPolicy: pullPolicy(c.ImagePullPolicy, cfg)},
		}})
		mounts = append(mounts, k8sv1.VolumeMount{Name: kernelBootVolume, MountPath: launcherv1.KernelBootDir, ReadOnly: true})
	}
	var devices []k8sv1.VolumeDevice
	for _, vol := range spec.Spec.Volumes {
		switch {
		case vol.PersistentVolumeClaim != nil:
			src := vol.PersistentVolumeClaim
			claim := claims[src.ClaimName]
			if claim == nil {
				return nil, fmt.Errorf("volume %q: the PersistentVolumeClaim %s was not looked up", vol.Name, src.ClaimName)
			}
			name := "pvc-" + vol.Name
			volumes = append(volumes, k8sv1.Volume{Name: name, VolumeSource: k8sv1.VolumeSource{
				PersistentVolumeClaim: &k8sv1.PersistentVolumeClaimVolumeSource{ClaimName: src.ClaimName, ReadOnly: src.ReadOnly},
			}})
			if isBlockClaim(claim) {
				// The kubelet puts the device node into the container; the runtime gives
				// it the pod's user and group (containerd's
				// device_ownership_from_security_context), so QEMU opens it unprivileged.
				devices = append(devices, k8sv1.VolumeDevice{Name: name, DevicePath: launcherv1.BlockDevicePath(vol.Name)})
			} else {
				mounts = append(mounts, k8sv1.VolumeMount{Name: name, MountPath: launcherv1.PVCDiskDir(vol.Name), ReadOnly: src.ReadOnly})
			}
		case vol.ContainerDisk != nil:
			policy := pullPolicy(vol.ContainerDisk.ImagePullPolicy, cfg)
			// The image itself is the volume (a Kubernetes image volume), read-only:
			// nothing to copy, and pods and VMs share the node's image store.
			name := "container-disk-" + vol.Name
			volumes = append(volumes, k8sv1.Volume{Name: name, VolumeSource: k8sv1.VolumeSource{
				Image: &k8sv1.ImageVolumeSource{Reference: vol.ContainerDisk.Image, PullPolicy: policy},
			}})
			mounts = append(mounts, k8sv1.VolumeMount{Name: name, MountPath: launcherv1.ContainerDiskPath(vol.Name), ReadOnly: true})
		case vol.CloudInitNoCloud != nil || vol.CloudInitConfigDrive != nil:
			secrets := cloudInitSecrets(&vol)
			if len(secrets) == 0 {
				continue
			}
			// User data and network data may come from two Secrets: one projected folder
			// holds both (their keys differ), where the launcher reads them.
			var sources []k8sv1.VolumeProjection
			for _, name := range secrets {
				sources = append(sources, k8sv1.VolumeProjection{Secret: &k8sv1.SecretProjection{LocalObjectReference: k8sv1.LocalObjectReference{Name: name}}})
			}
			name := "cloud-init-" + vol.Name
			volumes = append(volumes, k8sv1.Volume{Name: name, VolumeSource: k8sv1.VolumeSource{Projected: &k8sv1.ProjectedVolumeSource{Sources: sources}}})
			mounts = append(mounts, k8sv1.VolumeMount{Name: name, MountPath: filepath.Join(launcherv1.SecretsDir, vol.Name), ReadOnly: true})
		}
	}

	pod := &k8sv1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    "virt-launcher-" + vmi.Name + "-",
			Namespace:       vmi.Namespace,
			Labels:          labels,
			Annotations:     map[string]string{v1.DomainAnnotation: vmi.Name},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(vmi, v1.VirtualMachineInstanceGroupVersionKind)},
		},
		Spec: k8sv1.PodSpec{
			RestartPolicy:                 k8sv1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To(grace + podGraceExtra),
			// The launcher needs no Kubernetes API access: virt-handler feeds it.
			AutomountServiceAccountToken: ptr.To(false),
			// The pod's pause process becomes PID 1 and reaps orphans: libvirtd's QEMU
			// capability probe daemonizes, and a zombie nobody reaps stalls libvirt's
			// "kill painfully" wait for 40 s on every domain start.
			ShareProcessNamespace:     ptr.To(true),
			EnableServiceLinks:        ptr.To(false),
			Hostname:                  spec.Spec.Hostname,
			Subdomain:                 spec.Spec.Subdomain,
			NodeSelector:              nodeSelector(spec),
			Affinity:                  spec.Spec.Affinity,
			Tolerations:               spec.Spec.Tolerations,
			TopologySpreadConstraints: spec.Spec.TopologySpreadConstraints,
			SchedulerName:             spec.Spec.SchedulerName,
			PriorityClassName:         spec.Spec.PriorityClassName,
			ServiceAccountName:        spec.Spec.ServiceAccountName,
			DNSPolicy:                 spec.Spec.DNSPolicy,
			DNSConfig:                 spec.Spec.DNSConfig,
			SecurityContext: &k8sv1.PodSecurityContext{
				RunAsUser:      ptr.To[int64](launcherv1.LauncherUID),
				RunAsGroup:     ptr.To[int64](launcherv1.LauncherUID),
				FSGroup:        ptr.To[int64](launcherv1.LauncherUID),
				RunAsNonRoot:   ptr.To(true),
				SeccompProfile: &k8sv1.SeccompProfile{Type: k8sv1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []k8sv1.Container{{
				Name:            launcherv1.ComputeContainerName,
				Image:           cfg.Image,
				ImagePullPolicy: cfg.ImagePullPolicy,
				Command:         []string{"/usr/bin/virt-launcher", "--termination-grace", fmt.Sprintf("%ds", grace)},
				Resources:       k8sv1.ResourceRequirements{Requests: requests, Limits: limits},
				VolumeMounts:    mounts,
				VolumeDevices:   devices,
				SecurityContext: &k8sv1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					Capabilities:             &k8sv1.Capabilities{Drop: []k8sv1.Capability{"ALL"}},
				},
			}},
			Volumes: volumes,
		},
	}
	if len(limits) == 0 {
		pod.Spec.Containers[0].Resources.Limits = nil
	}
	return pod, nil
}

// kernelBootVolume is the launcher pod's volume of the kernel boot image. A VMI volume
// cannot take the name: theirs get a prefix.
const kernelBootVolume = "kernel-boot"

// pullPolicy is an image's own pull policy, else the cluster's, else IfNotPresent.
func pullPolicy(own k8sv1.PullPolicy, cfg LauncherPodConfig) k8sv1.PullPolicy {
	switch {
	case own != "":
		return own
	case cfg.ImagePullPolicy != "":
		return cfg.ImagePullPolicy
	}
	return k8sv1.PullIfNotPresent
}

// nodeSelector is the VMI's, plus: only nodes where virt-handler runs.
func nodeSelector(vmi *v1.VirtualMachineInstance) map[string]string {
	sel := map[string]string{v1.NodeSchedulable: "true"}
	for k, val := range vmi.Spec.NodeSelector {
		sel[k] = val
	}
	return sel
}

// cloudInitSecrets lists the Secrets a cloud-init volume reads its data from.
func cloudInitSecrets(vol *v1.Volume) []string {
	var user, network *k8sv1.LocalObjectReference
	if c := vol.CloudInitNoCloud; c != nil {
		user, network = c.UserDataSecretRef, c.NetworkDataSecretRef
	}
	if c := vol.CloudInitConfigDrive; c != nil {
		user, network = c.UserDataSecretRef, c.NetworkDataSecretRef
	}
	var names []string
	if user != nil {
		names = append(names, user.Name)
	}
	if network != nil && (user == nil || network.Name != user.Name) {
		names = append(names, network.Name)
	}
	return names
}

// isBlockClaim tells whether a claim gives a raw block device rather than a filesystem.
func isBlockClaim(claim *k8sv1.PersistentVolumeClaim) bool {
	return claim.Spec.VolumeMode != nil && *claim.Spec.VolumeMode == k8sv1.PersistentVolumeBlock
}

// LauncherRunning: the pod is bound to a node and its compute container started, so its
// command socket is about to appear for virt-handler.
func LauncherRunning(pod *k8sv1.Pod) bool {
	if pod == nil || pod.Spec.NodeName == "" || pod.Status.Phase != k8sv1.PodRunning {
		return false
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if cs.Name == launcherv1.ComputeContainerName {
			return cs.State.Running != nil
		}
	}
	return false
}
