package v1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// VirtualMachineInstanceGuestAgentInfo is the answer of the guestosinfo subresource
// (GET .../virtualmachineinstances/<name>/guestosinfo): what the QEMU guest agent in the
// guest reports. KubeVirt's type, field for field.
//
// +kubebuilder:object:root=true
type VirtualMachineInstanceGuestAgentInfo struct {
	metav1.TypeMeta `json:",inline"`
	// GAVersion is the version of the guest agent.
	// +optional
	GAVersion string `json:"guestAgentVersion,omitempty"`
	// SupportedCommands are the commands the guest agent offers.
	// +optional
	// +listType=atomic
	SupportedCommands []GuestAgentCommandInfo `json:"supportedCommands,omitempty"`
	// Hostname is the guest's host name.
	// +optional
	Hostname string `json:"hostname,omitempty"`
	// OS describes the guest's operating system.
	// +optional
	OS VirtualMachineInstanceGuestOSInfo `json:"os,omitempty"`
	// Timezone is the guest's time zone, as "<name>, <offset seconds>".
	// +optional
	Timezone string `json:"timezone,omitempty"`
	// UserList are the users logged in to the guest.
	// +optional
	UserList []VirtualMachineInstanceGuestOSUser `json:"userList,omitempty"`
	// FSInfo are the guest's mounted file systems.
	// +optional
	FSInfo VirtualMachineInstanceFileSystemInfo `json:"fsInfo,omitempty"`
	// FSFreezeStatus is "frozen" while a freeze was requested (Hypernest has no freeze yet).
	// +optional
	FSFreezeStatus string `json:"fsFreezeStatus,omitempty"`
}

// GuestAgentCommandInfo is one command of the guest agent.
type GuestAgentCommandInfo struct {
	Name string `json:"name"`
	// +optional
	Enabled bool `json:"enabled,omitempty"`
}

// VirtualMachineInstanceGuestOSUser is a user logged in to the guest.
type VirtualMachineInstanceGuestOSUser struct {
	UserName string `json:"userName"`
	// +optional
	Domain string `json:"domain,omitempty"`
	// LoginTime is when the user logged in, in seconds since the epoch.
	// +optional
	LoginTime float64 `json:"loginTime,omitempty"`
}

// VirtualMachineInstanceFileSystemInfo are the guest's file systems.
type VirtualMachineInstanceFileSystemInfo struct {
	Filesystems []VirtualMachineInstanceFileSystem `json:"disks"`
}

// VirtualMachineInstanceFileSystem is one mounted file system of the guest.
type VirtualMachineInstanceFileSystem struct {
	DiskName       string `json:"diskName"`
	MountPoint     string `json:"mountPoint"`
	FileSystemType string `json:"fileSystemType"`
	UsedBytes      int    `json:"usedBytes"`
	TotalBytes     int    `json:"totalBytes"`
	// +optional
	Disk []VirtualMachineInstanceFileSystemDisk `json:"disk,omitempty"`
}

// VirtualMachineInstanceFileSystemDisk is a disk under a guest file system.
type VirtualMachineInstanceFileSystemDisk struct {
	// +optional
	Serial  string `json:"serial,omitempty"`
	BusType string `json:"busType"`
}
