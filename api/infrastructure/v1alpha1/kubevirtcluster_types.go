package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clusterv1 "sigs.k8s.io/cluster-api/api/core/v1beta2"
)

// ClusterFinalizer keeps a KubevirtCluster until its control-plane Service is gone and
// no KubevirtMachine of the cluster is left.
const ClusterFinalizer = "kubevirtcluster.infrastructure.cluster.x-k8s.io"

// Labels the provider puts on the VirtualMachines (and so their VMIs and pods) it makes,
// as CAPK does.
const (
	// KubevirtMachineNameLabel names the KubevirtMachine a VM belongs to.
	KubevirtMachineNameLabel = "capk.cluster.x-k8s.io/kubevirt-machine-name"
	// KubevirtMachineNamespaceLabel is that KubevirtMachine's namespace.
	KubevirtMachineNamespaceLabel = "capk.cluster.x-k8s.io/kubevirt-machine-namespace"
)

// VmiDeletionGraceTime on a KubevirtMachine is CAPK's deadline (RFC 3339, UTC) for
// draining the machine's Node in the nested cluster when the infrastructure node under
// its VMI is drained and the VMI's evictionStrategy is External: the provider deletes
// the VMI once the Node is drained or this time has passed, and removes the annotation.
const VmiDeletionGraceTime = "capk.cluster.x-k8s.io/vmi-deletion-grace-time" //nolint:revive // CAPK's Go name

// KubevirtClusterSpec defines the desired state of KubevirtCluster.
type KubevirtClusterSpec struct {
	// ControlPlaneEndpoint represents the endpoint used to communicate with the control
	// plane. The provider fills it from the control-plane Service when it is empty.
	// +optional
	ControlPlaneEndpoint APIEndpoint `json:"controlPlaneEndpoint,omitempty"`

	// ControlPlaneServiceTemplate modifies the Service that fronts the control-plane
	// nodes for the API server's traffic (port 6443): its metadata and its type.
	// By default the Service is of type ClusterIP, which makes the nested cluster
	// reachable only from within the infrastructure cluster.
	// +optional
	ControlPlaneServiceTemplate ControlPlaneServiceTemplate `json:"controlPlaneServiceTemplate,omitempty"`

	// SSHKeys is where the cluster's SSH key pair is kept (bootstrap check "ssh").
	// +optional
	SshKeys SSHKeys `json:"sshKeys,omitempty"` //nolint:revive // CAPK's Go name, kept for users of its API

	// InfraClusterSecretRef references a Secret holding the kubeconfig (key "kubeconfig")
	// of an external infrastructure cluster to run the VMs on; when nil they run in the
	// cluster the provider runs in.
	// +optional
	InfraClusterSecretRef *corev1.ObjectReference `json:"infraClusterSecretRef,omitempty"`
}

// KubevirtClusterInitializationStatus holds the Cluster API v1beta2 contract's
// initialization fields.
type KubevirtClusterInitializationStatus struct {
	// Provisioned is true once the cluster's infrastructure (its control-plane Service
	// and endpoint) is ready.
	// +optional
	Provisioned *bool `json:"provisioned,omitempty"`
}

// KubevirtClusterStatus defines the observed state of KubevirtCluster.
type KubevirtClusterStatus struct {
	// Ready denotes that the infrastructure is ready (the v1beta1 contract's field;
	// initialization.provisioned is the v1beta2 one).
	// +kubebuilder:default:=false
	Ready bool `json:"ready"`

	// Initialization holds the v1beta2 contract's initialization fields.
	// +optional
	Initialization *KubevirtClusterInitializationStatus `json:"initialization,omitempty"`

	// FailureDomains lists the failure domains machines may be placed in.
	// +optional
	FailureDomains []clusterv1.FailureDomain `json:"failureDomains,omitempty"`

	// Conditions defines the current state of the KubevirtCluster: Ready and
	// LoadBalancerAvailable.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// APIEndpoint represents a reachable Kubernetes API endpoint.
type APIEndpoint struct {
	// Host is the hostname on which the API server is serving.
	Host string `json:"host"`
	// Port is the port on which the API server is serving.
	Port int `json:"port"`
}

// IsZero reports whether the endpoint is unset.
func (e APIEndpoint) IsZero() bool { return e.Host == "" && e.Port == 0 }

// SSHKeys encapsulates fields for SSH keys persistence.
type SSHKeys struct {
	// ConfigRef is a reference to a resource containing the keys.
	// +optional
	ConfigRef *corev1.ObjectReference `json:"configRef,omitempty"`

	// DataSecretName is the name of the secret that stores the SSH keys.
	// +optional
	DataSecretName *string `json:"dataSecretName,omitempty"`
}

// ControlPlaneServiceTemplate describes the template for the control-plane Service.
type ControlPlaneServiceTemplate struct {
	// Metadata sets labels, annotations and the namespace of the Service. With
	// infraClusterSecretRef the Service goes to the kubeconfig's namespace unless
	// metadata.namespace says otherwise.
	// +kubebuilder:pruning:PreserveUnknownFields
	// +nullable
	// +optional
	ObjectMeta metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec overrides some fields of the Service's spec.
	// +optional
	Spec ServiceSpecTemplate `json:"spec,omitempty"`
}

// ServiceSpecTemplate describes the service spec template.
type ServiceSpecTemplate struct {
	// Type determines how the Service is exposed: ClusterIP (the default), NodePort or
	// LoadBalancer.
	// +kubebuilder:validation:Enum=ClusterIP;NodePort;LoadBalancer
	// +optional
	Type corev1.ServiceType `json:"type,omitempty"`
}

// KubevirtCluster is the infrastructure of one Cluster API cluster on Hypernest: the
// Service fronting its control-plane VMs, whose address is the cluster's endpoint.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:path=kubevirtclusters,scope=Namespaced,categories=cluster-api
// +kubebuilder:storageversion
// +kubebuilder:subresource:status
// +kubebuilder:metadata:labels="cluster.x-k8s.io/v1beta2=v1alpha1"
// +kubebuilder:printcolumn:name="Cluster",type="string",JSONPath=".metadata.labels['cluster\\.x-k8s\\.io/cluster-name']",description="Cluster this KubevirtCluster belongs to"
// +kubebuilder:printcolumn:name="Provisioned",type="boolean",JSONPath=".status.initialization.provisioned",description="The control-plane endpoint is ready"
// +kubebuilder:printcolumn:name="Endpoint",type="string",JSONPath=".spec.controlPlaneEndpoint.host",description="The control-plane endpoint's host"
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
type KubevirtCluster struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   KubevirtClusterSpec   `json:"spec,omitempty"`
	Status KubevirtClusterStatus `json:"status,omitempty"`
}

// GetConditions returns the conditions (Cluster API's conditions library uses it).
func (c *KubevirtCluster) GetConditions() []metav1.Condition { return c.Status.Conditions }

// SetConditions sets the conditions.
func (c *KubevirtCluster) SetConditions(conditions []metav1.Condition) {
	c.Status.Conditions = conditions
}

// KubevirtClusterList contains a list of KubevirtCluster.
//
// +kubebuilder:object:root=true
type KubevirtClusterList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KubevirtCluster `json:"items"`
}
