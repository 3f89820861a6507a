package v1

import (
	k8sv1 "k8s.io/api/core/v1"
)

// Network is a network a guest interface can connect to.
type Network struct {
	// Name of the network; an interface with this name connects to it.
	Name string `json:"name"`
	// NetworkSource is the kind of network. Exactly one member must be set.
	NetworkSource `json:",inline"`
}

// NetworkSource is the kind of a network. Exactly one member must be set.
type NetworkSource struct {
	// Pod is the pod's own network (the cluster's CNI network).
	// +optional
	Pod *PodNetwork `json:"pod,omitempty"`
	// Multus is a secondary network attached through Multus.
	// +optional
	Multus *MultusNetwork `json:"multus,omitempty"`
}

// PodNetwork is the pod network.
type PodNetwork struct {
	// VMNetworkCIDR is the IPv4 network the guest lives in behind masquerade. Defaults to
	// 10.0.2.0/24.
	// +optional
	VMNetworkCIDR string `json:"vmNetworkCIDR,omitempty"`
	// VMIPv6NetworkCIDR is the IPv6 network the guest lives in behind masquerade. Defaults
	// to fd10:0:2::/120.
	// +optional
	VMIPv6NetworkCIDR string `json:"vmIPv6NetworkCIDR,omitempty"`
}

// MultusNetwork is a NetworkAttachmentDefinition attached through Multus.
type MultusNetwork struct {
	// NetworkName is <namespace>/<name> or <name> of the NetworkAttachmentDefinition.
	NetworkName string `json:"networkName"`
	// Default makes this the pod's default network instead of the cluster network.
	// +optional
	Default bool `json:"default,omitempty"`
}

// Interface is a guest network interface connected to the network of the same name.
type Interface struct {
	// Name of the interface; a network with this name must exist.
	Name string `json:"name"`
	// Model of the NIC: virtio, e1000, e1000e, igb, ne2k_pci, pcnet, rtl8139. Defaults
	// to virtio.
	// +optional
	Model string `json:"model,omitempty"`
	// InterfaceBindingMethod says how the guest is wired to the pod network. Exactly one
	// member (or binding) may be set; none means bridge on secondary networks and
	// masquerade on the pod network.
	InterfaceBindingMethod `json:",inline"`
	// Binding names a network binding plugin instead of a built-in method.
	// +optional
	Binding *PluginBinding `json:"binding,omitempty"`
	// Ports to forward to the guest (masquerade only). Empty forwards all ports.
	// +optional
	// +listType=atomic
	Ports []Port `json:"ports,omitempty"`
	// MacAddress of the interface, e.g. de:ad:00:00:be:af.
	// +optional
	MacAddress string `json:"macAddress,omitempty"`
	// BootOrder of the interface for PXE boot; lower boots first.
	// +optional
	BootOrder *uint `json:"bootOrder,omitempty"`
	// PciAddress of the interface in the guest.
	// +optional
	PciAddress string `json:"pciAddress,omitempty"`
	// DHCPOptions handed to the guest by the built-in DHCP server.
	// +optional
	DHCPOptions *DHCPOptions `json:"dhcpOptions,omitempty"`
	// Tag lets the guest find the interface through device metadata.
	// +optional
	Tag string `json:"tag,omitempty"`
	// ACPIIndex gives the guest a stable interface name (e.g. eno1).
	// +optional
	ACPIIndex int `json:"acpiIndex,omitempty"`
	// State of the interface: up, down or absent (hot-unplug).
	// +optional
	State InterfaceState `json:"state,omitempty"`
}

// InterfaceState is the wanted link state of an interface.
// +kubebuilder:validation:Enum=up;down;absent
type InterfaceState string

// InterfaceBindingMethod says how a guest interface is wired. Only one member may be set.
type InterfaceBindingMethod struct {
	// Bridge connects the guest directly to the pod interface's layer 2.
	// +optional
	Bridge *InterfaceBridge `json:"bridge,omitempty"`
	// Slirp is QEMU's user-mode networking (deprecated).
	// +optional
	Slirp *InterfaceSlirp `json:"slirp,omitempty"`
	// Masquerade puts the guest behind NAT on the pod's IP, forwarding the declared ports.
	// +optional
	Masquerade *InterfaceMasquerade `json:"masquerade,omitempty"`
	// SRIOV passes an SR-IOV virtual function through to the guest.
	// +optional
	SRIOV *InterfaceSRIOV `json:"sriov,omitempty"`
	// Macvtap connects the guest through a macvtap device (discontinued in KubeVirt).
	// +optional
	Macvtap *InterfaceMacvtap `json:"macvtap,omitempty"`
	// Passt connects the guest through passt (discontinued in KubeVirt; use passtBinding).
	// +optional
	Passt *InterfacePasst `json:"passt,omitempty"`
	// PasstBinding connects the guest through passt, user-mode networking on the pod's IP
	// (feature gate PasstBinding).
	// +optional
	PasstBinding *InterfacePasstBinding `json:"passtBinding,omitempty"`
}

// InterfaceBridge has no settings.
type InterfaceBridge struct{}

// InterfaceSlirp has no settings.
type InterfaceSlirp struct{}

// InterfaceMasquerade has no settings.
type InterfaceMasquerade struct{}

// InterfaceSRIOV has no settings.
type InterfaceSRIOV struct{}

// InterfaceMacvtap has no settings.
type InterfaceMacvtap struct{}

// InterfacePasst has no settings.
type InterfacePasst struct{}

// InterfacePasstBinding has no settings.
type InterfacePasstBinding struct{}

// PluginBinding names a network binding plugin registered in the KubeVirt CR.
type PluginBinding struct {
	// Name of the plugin.
	Name string `json:"name"`
}

// Port is a port forwarded to the guest.
type Port struct {
	// Name of the port (IANA_SVC_NAME).
	// +optional
	Name string `json:"name,omitempty"`
	// Protocol: TCP or UDP. Defaults to TCP.
	// +optional
	// +kubebuilder:validation:Enum=TCP;UDP
	Protocol string `json:"protocol,omitempty"`
	// Port number, 1-65535.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	Port int32 `json:"port"`
}

// DHCPOptions are extra options of the built-in DHCP server.
type DHCPOptions struct {
	// BootFileName (option 67) for PXE boot.
	// +optional
	BootFileName string `json:"bootFileName,omitempty"`
	// TFTPServerName (option 66) for PXE boot.
	// +optional
	TFTPServerName string `json:"tftpServerName,omitempty"`
	// NTPServers (option 42).
	// +optional
	// +listType=atomic
	NTPServers []string `json:"ntpServers,omitempty"`
	// PrivateOptions are site-specific options 224-254.
	// +optional
	// +listType=atomic
	PrivateOptions []DHCPPrivateOptions `json:"privateOptions,omitempty"`
}

// DHCPPrivateOptions is a site-specific DHCP option.
type DHCPPrivateOptions struct {
	// Option number, 224-254.
	// +kubebuilder:validation:Minimum=224
	// +kubebuilder:validation:Maximum=254
	Option int `json:"option"`
	// Value of the option.
	Value string `json:"value"`
}

// Probe is a readiness or liveness check of the guest.
type Probe struct {
	// Handler is the check to run. Exactly one member must be set.
	Handler `json:",inline"`
	// InitialDelaySeconds after the VMI starts before the first check.
	// +optional
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`
	// TimeoutSeconds of a check. Defaults to 1.
	// +optional
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
	// PeriodSeconds between checks. Defaults to 10.
	// +optional
	PeriodSeconds int32 `json:"periodSeconds,omitempty"`
	// SuccessThreshold of consecutive successes after a failure. Defaults to 1.
	// +optional
	SuccessThreshold int32 `json:"successThreshold,omitempty"`
	// FailureThreshold of consecutive failures. Defaults to 3.
	// +optional
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
}

// Handler is a probe's check. Exactly one member must be set.
type Handler struct {
	// Exec runs a command in the guest through the guest agent.
	// +optional
	Exec *k8sv1.ExecAction `json:"exec,omitempty"`
	// HTTPGet sends an HTTP GET to the guest.
	// +optional
	HTTPGet *k8sv1.HTTPGetAction `json:"httpGet,omitempty"`
	// TCPSocket opens a TCP connection to the guest.
	// +optional
	TCPSocket *k8sv1.TCPSocketAction `json:"tcpSocket,omitempty"`
	// GuestAgentPing pings the guest agent.
	// +optional
	GuestAgentPing *GuestAgentPing `json:"guestAgentPing,omitempty"`
}

// GuestAgentPing has no settings.
type GuestAgentPing struct{}
