package v1

import (
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
)

// Volume is a named source of data for a disk.
type Volume struct {
	// Name of the volume; disks refer to it by this name. Must be a DNS label.
	Name string `json:"name"`
	// VolumeSource is where the data comes from. Exactly one member must be set.
	VolumeSource `json:",inline"`
}

// VolumeSource is where a volume's data comes from. Exactly one member must be set.
type VolumeSource struct {
	// HostDisk is a disk image file on the node (feature gate HostDisk).
	// +optional
	HostDisk *HostDisk `json:"hostDisk,omitempty"`
	// PersistentVolumeClaim attaches a PVC as a disk.
	// +optional
	PersistentVolumeClaim *PersistentVolumeClaimVolumeSource `json:"persistentVolumeClaim,omitempty"`
	// CloudInitNoCloud attaches a cloud-init NoCloud data source (an ISO labelled cidata).
	// +optional
	CloudInitNoCloud *CloudInitNoCloudSource `json:"cloudInitNoCloud,omitempty"`
	// CloudInitConfigDrive attaches a cloud-init ConfigDrive data source (an ISO labelled
	// config-2, OpenStack layout).
	// +optional
	CloudInitConfigDrive *CloudInitConfigDriveSource `json:"cloudInitConfigDrive,omitempty"`
	// ContainerDisk boots from a disk image shipped in a container image. Writes go to an
	// ephemeral overlay and are lost when the VMI stops.
	// +optional
	ContainerDisk *ContainerDiskSource `json:"containerDisk,omitempty"`
	// Ephemeral attaches a PVC read-only with an ephemeral overlay for writes.
	// +optional
	Ephemeral *EphemeralVolumeSource `json:"ephemeral,omitempty"`
	// EmptyDisk is a blank, sparse disk that lives as long as the VMI.
	// +optional
	EmptyDisk *EmptyDiskSource `json:"emptyDisk,omitempty"`
	// DataVolume attaches the PVC of a CDI DataVolume.
	// +optional
	DataVolume *DataVolumeSource `json:"dataVolume,omitempty"`
	// ConfigMap attaches a ConfigMap as an ISO disk or a virtiofs filesystem.
	// +optional
	ConfigMap *ConfigMapVolumeSource `json:"configMap,omitempty"`
	// Secret attaches a Secret as an ISO disk or a virtiofs filesystem.
	// +optional
	Secret *SecretVolumeSource `json:"secret,omitempty"`
	// DownwardAPI attaches downward API fields as an ISO disk or a virtiofs filesystem.
	// +optional
	DownwardAPI *DownwardAPIVolumeSource `json:"downwardAPI,omitempty"`
	// ServiceAccount attaches the pod's service account token as an ISO disk.
	// +optional
	ServiceAccount *ServiceAccountVolumeSource `json:"serviceAccount,omitempty"`
}

// ContainerDiskSource is a disk image inside a container image (KubeVirt's containerDisk
// format: a qcow2 or raw file under /disk).
type ContainerDiskSource struct {
	// Image is the container image holding the disk.
	Image string `json:"image"`
	// ImagePullSecret names a Secret to pull the image with.
	// +optional
	ImagePullSecret string `json:"imagePullSecret,omitempty"`
	// Path of the disk image inside the container image. Defaults to the single file
	// under /disk.
	// +optional
	Path string `json:"path,omitempty"`
	// ImagePullPolicy: Always, IfNotPresent or Never. Defaults to IfNotPresent, or Always
	// for the :latest tag.
	// +optional
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy k8sv1.PullPolicy `json:"imagePullPolicy,omitempty"`
}

// CloudInitNoCloudSource is cloud-init NoCloud user data and network data. Each of user
// data and network data may come inline, base64-encoded or from a Secret; at most one
// form of each may be set.
type CloudInitNoCloudSource struct {
	// UserDataSecretRef names a Secret whose userdata (or userData) key holds the user data.
	// +optional
	UserDataSecretRef *k8sv1.LocalObjectReference `json:"secretRef,omitempty"`
	// UserDataBase64 is the base64-encoded user data.
	// +optional
	UserDataBase64 string `json:"userDataBase64,omitempty"`
	// UserData is the user data, e.g. a #cloud-config document or a #! script.
	// +optional
	UserData string `json:"userData,omitempty"`
	// NetworkDataSecretRef names a Secret whose networkdata (or networkData) key holds the
	// network data.
	// +optional
	NetworkDataSecretRef *k8sv1.LocalObjectReference `json:"networkDataSecretRef,omitempty"`
	// NetworkDataBase64 is the base64-encoded network data.
	// +optional
	NetworkDataBase64 string `json:"networkDataBase64,omitempty"`
	// NetworkData is the network configuration (version 1 or 2).
	// +optional
	NetworkData string `json:"networkData,omitempty"`
}

// CloudInitConfigDriveSource is cloud-init ConfigDrive user data and network data, with
// the same forms as CloudInitNoCloudSource.
type CloudInitConfigDriveSource struct {
	// UserDataSecretRef names a Secret whose userdata (or userData) key holds the user data.
	// +optional
	UserDataSecretRef *k8sv1.LocalObjectReference `json:"secretRef,omitempty"`
	// UserDataBase64 is the base64-encoded user data.
	// +optional
	UserDataBase64 string `json:"userDataBase64,omitempty"`
	// UserData is the user data.
	// +optional
	UserData string `json:"userData,omitempty"`
	// NetworkDataSecretRef names a Secret whose networkdata (or networkData) key holds the
	// network data.
	// +optional
	NetworkDataSecretRef *k8sv1.LocalObjectReference `json:"networkDataSecretRef,omitempty"`
	// NetworkDataBase64 is the base64-encoded network data.
	// +optional
	NetworkDataBase64 string `json:"networkDataBase64,omitempty"`
	// NetworkData is the network configuration.
	// +optional
	NetworkData string `json:"networkData,omitempty"`
}

// EmptyDiskSource is a blank sparse disk.
type EmptyDiskSource struct {
	// Capacity of the disk, e.g. 2Gi.
	Capacity resource.Quantity `json:"capacity"`
}

// PersistentVolumeClaimVolumeSource attaches a PVC.
type PersistentVolumeClaimVolumeSource struct {
	// The claim, as in a pod volume.
	k8sv1.PersistentVolumeClaimVolumeSource `json:",inline"`
	// Hotpluggable marks the volume as hot-plugged.
	// +optional
	Hotpluggable bool `json:"hotpluggable,omitempty"`
}

// EphemeralVolumeSource attaches a PVC read-only with a throw-away overlay.
type EphemeralVolumeSource struct {
	// PersistentVolumeClaim to read from.
	// +optional
	PersistentVolumeClaim *k8sv1.PersistentVolumeClaimVolumeSource `json:"persistentVolumeClaim,omitempty"`
}

// DataVolumeSource attaches the PVC of a CDI DataVolume.
type DataVolumeSource struct {
	// Name of the DataVolume in the VMI's namespace.
	Name string `json:"name"`
	// Hotpluggable marks the volume as hot-plugged.
	// +optional
	Hotpluggable bool `json:"hotpluggable,omitempty"`
}

// HostDisk is a disk image file on the node.
type HostDisk struct {
	// Path of the image file on the node.
	Path string `json:"path"`
	// Type: Disk (must exist) or DiskOrCreate (created with capacity when missing).
	// +kubebuilder:validation:Enum=Disk;DiskOrCreate
	Type HostDiskType `json:"type"`
	// Capacity of the image when it is created.
	// +optional
	Capacity resource.Quantity `json:"capacity,omitempty"`
	// Shared marks the disk as shared between nodes.
	// +optional
	Shared *bool `json:"shared,omitempty"`
}

// HostDiskType says whether a host disk must exist.
type HostDiskType string

// ConfigMapVolumeSource attaches a ConfigMap.
type ConfigMapVolumeSource struct {
	// The ConfigMap to attach.
	k8sv1.LocalObjectReference `json:",inline"`
	// Optional allows the ConfigMap to be missing.
	// +optional
	Optional *bool `json:"optional,omitempty"`
	// VolumeLabel of the ISO the ConfigMap is written to.
	// +optional
	VolumeLabel string `json:"volumeLabel,omitempty"`
}

// SecretVolumeSource attaches a Secret.
type SecretVolumeSource struct {
	// SecretName of the Secret in the VMI's namespace.
	// +optional
	SecretName string `json:"secretName,omitempty"`
	// Optional allows the Secret to be missing.
	// +optional
	Optional *bool `json:"optional,omitempty"`
	// VolumeLabel of the ISO the Secret is written to.
	// +optional
	VolumeLabel string `json:"volumeLabel,omitempty"`
}

// DownwardAPIVolumeSource attaches downward API fields.
type DownwardAPIVolumeSource struct {
	// Fields to expose.
	// +optional
	// +listType=atomic
	Fields []k8sv1.DownwardAPIVolumeFile `json:"fields,omitempty"`
	// VolumeLabel of the ISO the fields are written to.
	// +optional
	VolumeLabel string `json:"volumeLabel,omitempty"`
}

// ServiceAccountVolumeSource attaches a service account's token.
type ServiceAccountVolumeSource struct {
	// ServiceAccountName of the account whose token is attached.
	// +optional
	ServiceAccountName string `json:"serviceAccountName,omitempty"`
}
