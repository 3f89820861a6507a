// Package v1beta1 holds the instancetype.kubevirt.io/v1beta1 API: instance types (the
// size of a VM: vCPUs, memory and what goes with them) and preferences (defaults for the
// rest of its devices), namespaced and cluster-wide. JSON-compatible with KubeVirt's.
//
// Fields whose core types Hypernest does not have (gpus, hostDevices, ioThreads,
// launchSecurity, preferredVirtualGPUOptions, preferredTPM, preferredPanicDeviceModel,
// preferredLaunchSecurity) are left out of the schema, so the apiserver refuses them as
// unknown fields instead of storing them unused.
//
// +kubebuilder:object:generate=true
// +groupName=instancetype.kubevirt.io
package v1beta1
