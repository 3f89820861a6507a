package v1

import (
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// KubeVirt is the installation of the virtualization stack: virt-operator turns one KubeVirt
// object (in the namespace virt-operator runs in) into the virt-api, virt-controller and
// virt-handler components and keeps them configured.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=kv;kvs,categories=all
// +kubebuilder:printcolumn:name="Age",type="date",JSONPath=".metadata.creationTimestamp"
// +kubebuilder:printcolumn:name="Phase",type="string",JSONPath=".status.phase"
type KubeVirt struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`
	// Spec is the desired installation and its configuration.
	Spec KubeVirtSpec `json:"spec"`
	// Status is the observed state of the installation, written by virt-operator.
	// +optional
	Status KubeVirtStatus `json:"status,omitempty"`
}

// KubeVirtList is a list of KubeVirts.
//
// +kubebuilder:object:root=true
type KubeVirtList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []KubeVirt `json:"items"`
}

// KubeVirtUninstallStrategy says what deleting the KubeVirt object does to running VMs.
// +kubebuilder:validation:Enum=RemoveWorkloads;BlockUninstallIfWorkloadsExist;BlockUninstallIfRemoveWorkloads
type KubeVirtUninstallStrategy string

const (
	// KubeVirtUninstallStrategyRemoveWorkloads deletes all VMIs, then uninstalls.
	KubeVirtUninstallStrategyRemoveWorkloads KubeVirtUninstallStrategy = "RemoveWorkloads"
	// KubeVirtUninstallStrategyBlockUninstallIfWorkloadsExist refuses to uninstall while any
	// VMI exists. The default.
	KubeVirtUninstallStrategyBlockUninstallIfWorkloadsExist KubeVirtUninstallStrategy = "BlockUninstallIfWorkloadsExist"
	// KubeVirtUninstallStrategyBlockUninstallIfRemoveWorkloads refuses to uninstall while
	// any VM, VMI or other workload object exists.
	KubeVirtUninstallStrategyBlockUninstallIfRemoveWorkloads KubeVirtUninstallStrategy = "BlockUninstallIfRemoveWorkloads"
)

// KubeVirtSpec is the desired state of a KubeVirt installation.
type KubeVirtSpec struct {
	// ImageTag of the component images. Defaults to virt-operator's own version.
	// +optional
	ImageTag string `json:"imageTag,omitempty"`
	// ImageRegistry of the component images. Defaults to virt-operator's own registry.
	// +optional
	ImageRegistry string `json:"imageRegistry,omitempty"`
	// ImagePullPolicy of the component images.
	// +optional
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy k8sv1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// ImagePullSecrets for the component images.
	// +optional
	// +listType=atomic
	ImagePullSecrets []k8sv1.LocalObjectReference `json:"imagePullSecrets,omitempty"`
	// MonitorNamespace is where Prometheus runs.
	// +optional
	MonitorNamespace string `json:"monitorNamespace,omitempty"`
	// ServiceMonitorNamespace is where the ServiceMonitor goes.
	// +optional
	ServiceMonitorNamespace string `json:"serviceMonitorNamespace,omitempty"`
	// MonitorAccount is Prometheus' service account.
	// +optional
	MonitorAccount string `json:"monitorAccount,omitempty"`
	// WorkloadUpdateStrategy says how running VMIs move to new launcher images on upgrade.
	// +optional
	WorkloadUpdateStrategy KubeVirtWorkloadUpdateStrategy `json:"workloadUpdateStrategy,omitempty"`
	// UninstallStrategy says whether deleting this object may remove running VMs.
	// Defaults to BlockUninstallIfWorkloadsExist.
	// +optional
	UninstallStrategy KubeVirtUninstallStrategy `json:"uninstallStrategy,omitempty"`
	// CertificateRotateStrategy configures the self-signed CA and serving certificates.
	// +optional
	CertificateRotateStrategy KubeVirtCertificateRotateStrategy `json:"certificateRotateStrategy,omitempty"`
	// ProductVersion is added to the app.kubernetes.io/version label of every component.
	// +optional
	ProductVersion string `json:"productVersion,omitempty"`
	// ProductName is added to the app.kubernetes.io/part-of label of every component.
	// +optional
	ProductName string `json:"productName,omitempty"`
	// ProductComponent is added to the app.kubernetes.io/component label of every component.
	// +optional
	ProductComponent string `json:"productComponent,omitempty"`
	// Configuration of the virtualization stack, applied to every component.
	// +optional
	Configuration KubeVirtConfiguration `json:"configuration,omitempty"`
	// Infra places virt-api and virt-controller.
	// +optional
	Infra *ComponentConfig `json:"infra,omitempty"`
	// Workloads places virt-handler and, with it, the nodes VMs may run on.
	// +optional
	Workloads *ComponentConfig `json:"workloads,omitempty"`
	// CustomizeComponents patches the generated component objects.
	// +optional
	CustomizeComponents CustomizeComponents `json:"customizeComponents,omitempty"`
}

// KubeVirtConfiguration is the configuration shared by all components.
type KubeVirtConfiguration struct {
	// CPUModel is the default guest CPU model.
	// +optional
	CPUModel string `json:"cpuModel,omitempty"`
	// CPURequest is the default CPU request of a VMI's pod. Defaults to 100m.
	// +optional
	CPURequest *resource.Quantity `json:"cpuRequest,omitempty"`
	// DeveloperConfiguration holds feature gates, emulation and tuning knobs.
	// +optional
	DeveloperConfiguration *DeveloperConfiguration `json:"developerConfiguration,omitempty"`
	// EmulatedMachines lists the machine types guests may use (glob patterns).
	// +optional
	// +listType=atomic
	EmulatedMachines []string `json:"emulatedMachines,omitempty"`
	// ImagePullPolicy of containerDisk images without one of their own.
	// +optional
	// +kubebuilder:validation:Enum=Always;IfNotPresent;Never
	ImagePullPolicy k8sv1.PullPolicy `json:"imagePullPolicy,omitempty"`
	// MachineType is the default guest machine type.
	// +optional
	MachineType string `json:"machineType,omitempty"`
	// Network configures defaults of guest networking.
	// +optional
	Network *NetworkConfiguration `json:"network,omitempty"`
	// OVMFPath is where the EFI firmware files are in virt-launcher.
	// +optional
	OVMFPath string `json:"ovmfPath,omitempty"`
	// SELinuxLauncherType is the SELinux type of virt-launcher pods.
	// +optional
	SELinuxLauncherType string `json:"selinuxLauncherType,omitempty"`
	// DefaultRuntimeClass of virt-launcher pods.
	// +optional
	DefaultRuntimeClass string `json:"defaultRuntimeClass,omitempty"`
	// SMBIOS is the default SMBIOS system information guests see.
	// +optional
	SMBIOSConfig *SMBiosConfiguration `json:"smbios,omitempty"`
	// EvictionStrategy is the default eviction strategy of VMIs.
	// +optional
	EvictionStrategy *EvictionStrategy `json:"evictionStrategy,omitempty"`
	// MigrationConfiguration tunes live migrations (KubeVirt's fields). Hypernest acts
	// on the two limits on parallel migrations; virt-api refuses the other fields while
	// Hypernest does not move guests yet, since nothing would read them.
	// +optional
	MigrationConfiguration *MigrationConfiguration `json:"migrations,omitempty"`
	// AdditionalGuestMemoryOverheadRatio multiplies the computed memory overhead of each
	// VMI's pod, e.g. "1.5". Must be at least 1.0.
	// +optional
	AdditionalGuestMemoryOverheadRatio *string `json:"additionalGuestMemoryOverheadRatio,omitempty"`
	// MemBalloonStatsPeriod is the period in seconds of memory balloon statistics; 0
	// disables them. Defaults to 10.
	// +optional
	MemBalloonStatsPeriod *uint32 `json:"memBalloonStatsPeriod,omitempty"`
	// VirtualMachineInstancesPerNode caps the number of VMIs on one node.
	// +optional
	VirtualMachineInstancesPerNode *int `json:"virtualMachineInstancesPerNode,omitempty"`
	// APIConfiguration tunes virt-api's client.
	// +optional
	APIConfiguration *ReloadableComponentConfiguration `json:"apiConfiguration,omitempty"`
	// WebhookConfiguration tunes the webhooks' client.
	// +optional
	WebhookConfiguration *ReloadableComponentConfiguration `json:"webhookConfiguration,omitempty"`
	// ControllerConfiguration tunes virt-controller's client.
	// +optional
	ControllerConfiguration *ReloadableComponentConfiguration `json:"controllerConfiguration,omitempty"`
	// HandlerConfiguration tunes virt-handler's client.
	// +optional
	HandlerConfiguration *ReloadableComponentConfiguration `json:"handlerConfiguration,omitempty"`
	// TLSConfiguration of the components' servers.
	// +optional
	TLSConfiguration *TLSConfiguration `json:"tlsConfiguration,omitempty"`
	// VMRolloutStrategy says how VM spec changes reach running VMIs: Stage (on restart) or
	// LiveUpdate.
	// +optional
	// +kubebuilder:validation:Enum=Stage;LiveUpdate
	VMRolloutStrategy *VMRolloutStrategy `json:"vmRolloutStrategy,omitempty"`
}

// VMRolloutStrategy says how VM spec changes reach running VMIs.
type VMRolloutStrategy string

// DeveloperConfiguration holds feature gates and developer knobs.
type DeveloperConfiguration struct {
	// FeatureGates to enable. Every feature beyond the core VM lifecycle is off until its
	// gate is listed here.
	// +optional
	// +listType=atomic
	FeatureGates []string `json:"featureGates,omitempty"`
	// DisabledFeatureGates to turn off, even when on by default.
	// +optional
	// +listType=atomic
	DisabledFeatureGates []string `json:"disabledFeatureGates,omitempty"`
	// LessPVCSpaceToleration is the percentage of PVC space that may be missing.
	// +optional
	LessPVCSpaceToleration int `json:"pvcTolerateLessSpaceUpToPercent,omitempty"`
	// MinimumReservePVCBytes kept free on filesystem PVCs.
	// +optional
	MinimumReservePVCBytes uint64 `json:"minimumReservePVCBytes,omitempty"`
	// MemoryOvercommit is the percentage of guest memory the pod requests (100 = none).
	// +optional
	// +kubebuilder:validation:Minimum=10
	MemoryOvercommit int `json:"memoryOvercommit,omitempty"`
	// NodeSelectors added to every VMI's pod.
	// +optional
	NodeSelectors map[string]string `json:"nodeSelectors,omitempty"`
	// UseEmulation runs guests under QEMU's software emulation (TCG, libvirt domain type
	// qemu) instead of KVM, for nodes without usable /dev/kvm. Slow; for development.
	// +optional
	UseEmulation bool `json:"useEmulation,omitempty"`
	// CPUAllocationRatio is vCPUs per requested CPU. Defaults to 10.
	// +optional
	CPUAllocationRatio int `json:"cpuAllocationRatio,omitempty"`
	// MinimumClusterTSCFrequency required of nodes for TSC-dependent guests.
	// +optional
	MinimumClusterTSCFrequency *int64 `json:"minimumClusterTSCFrequency,omitempty"`
	// DiskVerification limits the memory of disk image inspection.
	// +optional
	DiskVerification *DiskVerification `json:"diskVerification,omitempty"`
	// LogVerbosity of the components.
	// +optional
	LogVerbosity *LogVerbosity `json:"logVerbosity,omitempty"`
	// ClusterProfiler enables the profiler endpoints of the components.
	// +optional
	ClusterProfiler bool `json:"clusterProfiler,omitempty"`
}

// DiskVerification limits disk image inspection.
type DiskVerification struct {
	// MemoryLimit of qemu-img while inspecting an image.
	MemoryLimit *resource.Quantity `json:"memoryLimit"`
}

// LogVerbosity sets the klog verbosity of each component.
type LogVerbosity struct {
	// +optional
	VirtAPI uint `json:"virtAPI,omitempty"`
	// +optional
	VirtController uint `json:"virtController,omitempty"`
	// +optional
	VirtHandler uint `json:"virtHandler,omitempty"`
	// +optional
	VirtLauncher uint `json:"virtLauncher,omitempty"`
	// +optional
	VirtOperator uint `json:"virtOperator,omitempty"`
	// NodeVerbosity overrides the verbosity of virt-handler and virt-launcher per node.
	// +optional
	NodeVerbosity map[string]uint `json:"nodeVerbosity,omitempty"`
}

// NetworkConfiguration configures defaults of guest networking.
type NetworkConfiguration struct {
	// NetworkInterface is the binding used when an interface names none: bridge,
	// masquerade or slirp.
	// +optional
	NetworkInterface string `json:"defaultNetworkInterface,omitempty"`
	// PermitSlirpInterface allows the slirp binding.
	// +optional
	PermitSlirpInterface *bool `json:"permitSlirpInterface,omitempty"`
	// PermitBridgeInterfaceOnPodNetwork allows the bridge binding on the pod network.
	// Defaults to true.
	// +optional
	PermitBridgeInterfaceOnPodNetwork *bool `json:"permitBridgeInterfaceOnPodNetwork,omitempty"`
	// Binding registers network binding plugins by name.
	// +optional
	Binding map[string]InterfaceBindingPlugin `json:"binding,omitempty"`
}

// InterfaceBindingPlugin is a network binding plugin.
type InterfaceBindingPlugin struct {
	// SidecarImage runs next to virt-launcher and adjusts the domain.
	// +optional
	SidecarImage string `json:"sidecarImage,omitempty"`
	// NetworkAttachmentDefinition that wires the pod side.
	// +optional
	NetworkAttachmentDefinition string `json:"networkAttachmentDefinition,omitempty"`
	// DomainAttachmentType: tap or managedTap.
	// +optional
	DomainAttachmentType string `json:"domainAttachmentType,omitempty"`
	// DownwardAPI the plugin needs: device-info.
	// +optional
	DownwardAPI string `json:"downwardAPI,omitempty"`
}

// SMBiosConfiguration is SMBIOS system information.
type SMBiosConfiguration struct {
	// +optional
	Manufacturer string `json:"manufacturer,omitempty"`
	// +optional
	Product string `json:"product,omitempty"`
	// +optional
	Version string `json:"version,omitempty"`
	// +optional
	Sku string `json:"sku,omitempty"`
	// +optional
	Family string `json:"family,omitempty"`
}

// ReloadableComponentConfiguration tunes a component's API client at runtime.
type ReloadableComponentConfiguration struct {
	// RestClient settings.
	// +optional
	RestClient *RESTClientConfiguration `json:"restClient,omitempty"`
}

// RESTClientConfiguration tunes a REST client.
type RESTClientConfiguration struct {
	// RateLimiter of the client.
	// +optional
	RateLimiter *RateLimiter `json:"rateLimiter,omitempty"`
}

// RateLimiter of a REST client.
type RateLimiter struct {
	// TokenBucketRateLimiter allows qps requests per second with bursts.
	// +optional
	TokenBucketRateLimiter *TokenBucketRateLimiter `json:"tokenBucketRateLimiter,omitempty"`
}

// TokenBucketRateLimiter allows qps requests per second with bursts.
type TokenBucketRateLimiter struct {
	// QPS is the sustained request rate.
	QPS float32 `json:"qps"`
	// Burst is the largest burst.
	Burst int `json:"burst"`
}

// TLSConfiguration of the components' servers.
type TLSConfiguration struct {
	// MinTLSVersion: VersionTLS10 .. VersionTLS13.
	// +optional
	// +kubebuilder:validation:Enum=VersionTLS10;VersionTLS11;VersionTLS12;VersionTLS13
	MinTLSVersion string `json:"minTLSVersion,omitempty"`
	// Ciphers allowed (IANA names).
	// +optional
	// +listType=set
	Ciphers []string `json:"ciphers,omitempty"`
}

// ComponentConfig places a group of components.
type ComponentConfig struct {
	// NodePlacement of the components' pods.
	// +optional
	NodePlacement *NodePlacement `json:"nodePlacement,omitempty"`
	// Replicas of virt-api and virt-controller (infra only). Defaults to 2, or 1 on a
	// single-node cluster.
	// +optional
	Replicas *uint8 `json:"replicas,omitempty"`
}

// NodePlacement constrains where pods run.
type NodePlacement struct {
	// NodeSelector of the pods.
	// +optional
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
	// Affinity of the pods.
	// +optional
	Affinity *k8sv1.Affinity `json:"affinity,omitempty"`
	// Tolerations of the pods.
	// +optional
	// +listType=atomic
	Tolerations []k8sv1.Toleration `json:"tolerations,omitempty"`
}

// CustomizeComponents patches the component objects virt-operator generates.
type CustomizeComponents struct {
	// Patches applied to named objects.
	// +optional
	// +listType=atomic
	Patches []CustomizeComponentsPatch `json:"patches,omitempty"`
	// Flags added to the components' command lines.
	// +optional
	Flags *Flags `json:"flags,omitempty"`
}

// CustomizeComponentsPatch is a patch applied to one generated object.
type CustomizeComponentsPatch struct {
	// ResourceName of the object, e.g. virt-controller; * for all.
	// +kubebuilder:validation:MinLength=1
	ResourceName string `json:"resourceName"`
	// ResourceType of the object, e.g. Deployment; * for all.
	// +kubebuilder:validation:MinLength=1
	ResourceType string `json:"resourceType"`
	// Patch document.
	Patch string `json:"patch"`
	// Type of the patch: json, merge or strategic.
	// +kubebuilder:validation:Enum=json;merge;strategic
	Type PatchType `json:"type"`
}

// PatchType is the kind of a customization patch.
type PatchType string

// Flags added to the components' command lines.
type Flags struct {
	// +optional
	API map[string]string `json:"api,omitempty"`
	// +optional
	Controller map[string]string `json:"controller,omitempty"`
	// +optional
	Handler map[string]string `json:"handler,omitempty"`
}

// KubeVirtCertificateRotateStrategy configures certificate rotation.
type KubeVirtCertificateRotateStrategy struct {
	// SelfSigned configures the self-signed CA and serving certificates.
	// +optional
	SelfSigned *KubeVirtSelfSignConfiguration `json:"selfSigned,omitempty"`
}

// KubeVirtSelfSignConfiguration configures the self-signed certificates.
type KubeVirtSelfSignConfiguration struct {
	// CARotateInterval (deprecated: use ca.duration).
	// +optional
	CARotateInterval *metav1.Duration `json:"caRotateInterval,omitempty"`
	// CertRotateInterval (deprecated: use server.duration).
	// +optional
	CertRotateInterval *metav1.Duration `json:"certRotateInterval,omitempty"`
	// CAOverlapInterval (deprecated: use ca.renewBefore).
	// +optional
	CAOverlapInterval *metav1.Duration `json:"caOverlapInterval,omitempty"`
	// CA certificate lifetime. Defaults to 7 days, renewed 1.4 days before expiry.
	// +optional
	CA *CertConfig `json:"ca,omitempty"`
	// Server certificate lifetime. Defaults to 1 day, renewed 4.8 hours before expiry.
	// +optional
	Server *CertConfig `json:"server,omitempty"`
}

// CertConfig is a certificate lifetime.
type CertConfig struct {
	// Duration of the certificate.
	// +optional
	Duration *metav1.Duration `json:"duration,omitempty"`
	// RenewBefore expiry.
	// +optional
	RenewBefore *metav1.Duration `json:"renewBefore,omitempty"`
}

// WorkloadUpdateMethod is a way to move a VMI to a new launcher.
type WorkloadUpdateMethod string

// KubeVirtWorkloadUpdateStrategy says how running VMIs move to new launcher images.
type KubeVirtWorkloadUpdateStrategy struct {
	// WorkloadUpdateMethods, tried in order: LiveMigrate, Evict. Empty leaves VMIs alone.
	// +optional
	// +listType=atomic
	WorkloadUpdateMethods []WorkloadUpdateMethod `json:"workloadUpdateMethods,omitempty"`
	// BatchEvictionSize is how many VMIs are evicted per interval. Defaults to 10.
	// +optional
	BatchEvictionSize *int `json:"batchEvictionSize,omitempty"`
	// BatchEvictionInterval between eviction batches. Defaults to 1m.
	// +optional
	BatchEvictionInterval *metav1.Duration `json:"batchEvictionInterval,omitempty"`
}

// KubeVirtPhase is where an installation is in its life.
type KubeVirtPhase string

const (
	// KubeVirtPhaseUnset: nothing happened yet.
	KubeVirtPhaseUnset KubeVirtPhase = ""
	// KubeVirtPhaseDeploying: components are being created or updated.
	KubeVirtPhaseDeploying KubeVirtPhase = "Deploying"
	// KubeVirtPhaseDeployed: every component is available.
	KubeVirtPhaseDeployed KubeVirtPhase = "Deployed"
	// KubeVirtPhaseDeleting: the installation is being removed.
	KubeVirtPhaseDeleting KubeVirtPhase = "Deleting"
	// KubeVirtPhaseDeleted: the installation is removed.
	KubeVirtPhaseDeleted KubeVirtPhase = "Deleted"
)

// KubeVirtConditionType names a KubeVirt condition.
type KubeVirtConditionType string

const (
	// KubeVirtConditionAvailable is True when every component serves.
	KubeVirtConditionAvailable KubeVirtConditionType = "Available"
	// KubeVirtConditionProgressing is True while components are rolled out.
	KubeVirtConditionProgressing KubeVirtConditionType = "Progressing"
	// KubeVirtConditionDegraded is True when a component does not work as it should.
	KubeVirtConditionDegraded KubeVirtConditionType = "Degraded"
	// KubeVirtConditionCreated is True once every object is created.
	KubeVirtConditionCreated KubeVirtConditionType = "Created"
	// KubeVirtConditionSynchronized is False when an object cannot be brought into shape.
	KubeVirtConditionSynchronized KubeVirtConditionType = "Synchronized"
)

// KubeVirtStatus is the observed state of a KubeVirt installation.
type KubeVirtStatus struct {
	// Phase: Deploying, Deployed, Deleting or Deleted.
	// +optional
	Phase KubeVirtPhase `json:"phase,omitempty"`
	// Conditions: Available, Progressing, Degraded, Created, Synchronized.
	// +optional
	// +listType=atomic
	Conditions []KubeVirtCondition `json:"conditions,omitempty"`
	// OperatorVersion of the virt-operator acting on this object.
	// +optional
	OperatorVersion string `json:"operatorVersion,omitempty"`
	// TargetKubeVirtVersion being deployed.
	// +optional
	TargetKubeVirtVersion string `json:"targetKubeVirtVersion,omitempty"`
	// TargetKubeVirtRegistry being deployed from.
	// +optional
	TargetKubeVirtRegistry string `json:"targetKubeVirtRegistry,omitempty"`
	// TargetDeploymentConfig is the deployment configuration being rolled out (JSON).
	// +optional
	TargetDeploymentConfig string `json:"targetDeploymentConfig,omitempty"`
	// TargetDeploymentID is a hash of TargetDeploymentConfig.
	// +optional
	TargetDeploymentID string `json:"targetDeploymentID,omitempty"`
	// ObservedKubeVirtVersion that is fully deployed.
	// +optional
	ObservedKubeVirtVersion string `json:"observedKubeVirtVersion,omitempty"`
	// ObservedKubeVirtRegistry that is fully deployed.
	// +optional
	ObservedKubeVirtRegistry string `json:"observedKubeVirtRegistry,omitempty"`
	// ObservedDeploymentConfig that is fully deployed (JSON).
	// +optional
	ObservedDeploymentConfig string `json:"observedDeploymentConfig,omitempty"`
	// ObservedDeploymentID is a hash of ObservedDeploymentConfig.
	// +optional
	ObservedDeploymentID string `json:"observedDeploymentID,omitempty"`
	// OutdatedVirtualMachineInstanceWorkloads counts VMIs on an old launcher image.
	// +optional
	OutdatedVirtualMachineInstanceWorkloads *int `json:"outdatedVirtualMachineInstanceWorkloads,omitempty"`
	// ObservedGeneration of the KubeVirt object the status reflects.
	// +optional
	ObservedGeneration *int64 `json:"observedGeneration,omitempty"`
	// DefaultArchitecture of guests in this cluster.
	// +optional
	DefaultArchitecture string `json:"defaultArchitecture,omitempty"`
	// Generations of the objects virt-operator manages, to detect drift.
	// +optional
	// +listType=atomic
	Generations []GenerationStatus `json:"generations,omitempty"`
}

// KubeVirtCondition is one condition of a KubeVirt installation.
type KubeVirtCondition struct {
	// Type of the condition.
	Type KubeVirtConditionType `json:"type"`
	// Status: True, False or Unknown.
	Status k8sv1.ConditionStatus `json:"status"`
	// LastProbeTime is when the condition was last checked.
	// +optional
	// +nullable
	LastProbeTime metav1.Time `json:"lastProbeTime,omitempty"`
	// LastTransitionTime is when the status last changed.
	// +optional
	// +nullable
	LastTransitionTime metav1.Time `json:"lastTransitionTime,omitempty"`
	// Reason is a CamelCase word for the last transition.
	// +optional
	Reason string `json:"reason,omitempty"`
	// Message is a human-readable explanation.
	// +optional
	Message string `json:"message,omitempty"`
}

// GenerationStatus records the last generation of a managed object.
type GenerationStatus struct {
	// Group of the object.
	Group string `json:"group"`
	// Resource of the object.
	Resource string `json:"resource"`
	// Namespace of the object.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Name of the object.
	Name string `json:"name"`
	// LastGeneration virt-operator applied.
	LastGeneration int64 `json:"lastGeneration"`
	// Hash of the object as applied.
	// +optional
	Hash string `json:"hash,omitempty"`
}

// MigrationConfiguration is spec.configuration.migrations of the KubeVirt object.
type MigrationConfiguration struct {
	// ParallelMigrationsPerCluster caps the migrations that have a target pod, cluster-wide.
	// Defaults to 5.
	// +optional
	ParallelMigrationsPerCluster *uint32 `json:"parallelMigrationsPerCluster,omitempty"`
	// ParallelOutboundMigrationsPerNode caps the migrations leaving one node. Defaults to 2.
	// +optional
	ParallelOutboundMigrationsPerNode *uint32 `json:"parallelOutboundMigrationsPerNode,omitempty"`
	// BandwidthPerMigration caps each migration's transfer rate (bytes per second, whole
	// MiB/s applied); 0 means no cap.
	// +optional
	BandwidthPerMigration *resource.Quantity `json:"bandwidthPerMigration,omitempty"`
	// CompletionTimeoutPerGiB is the seconds a migration may take per GiB of guest memory
	// (at least one GiB's worth); then it is aborted. Defaults to 150.
	// +optional
	CompletionTimeoutPerGiB *int64 `json:"completionTimeoutPerGiB,omitempty"`
	// ProgressTimeout is the seconds a migration may go without progress before it is
	// aborted. Defaults to 150.
	// +optional
	ProgressTimeout *int64 `json:"progressTimeout,omitempty"`
	// MaxDowntimeMs is the longest pause of the guest the switch-over may take.
	// Not supported by Hypernest yet.
	// +optional
	MaxDowntimeMs *uint64 `json:"maxDowntimeMs,omitempty"`
	// UtilityVolumesTimeout is the seconds a migration waits for utility volumes to go.
	// Not supported by Hypernest yet.
	// +optional
	UtilityVolumesTimeout *int64 `json:"utilityVolumesTimeout,omitempty"`
	// UnsafeMigrationOverride migrates even where libvirt finds it unsafe.
	// Not supported by Hypernest yet.
	// +optional
	UnsafeMigrationOverride *bool `json:"unsafeMigrationOverride,omitempty"`
	// AllowAutoConverge lets the hypervisor slow the guest's vCPUs so a migration ends.
	// Defaults to false.
	// +optional
	AllowAutoConverge *bool `json:"allowAutoConverge,omitempty"`
	// AllowPostCopy lets a migration that runs out of time switch to post-copy.
	// Not supported by Hypernest yet.
	// +optional
	AllowPostCopy *bool `json:"allowPostCopy,omitempty"`
	// AllowWorkloadDisruption lets a migration that runs out of time pause the guest or
	// switch to post-copy instead of aborting. Not supported by Hypernest yet.
	// +optional
	AllowWorkloadDisruption *bool `json:"allowWorkloadDisruption,omitempty"`
	// DisableTLS makes the handlers' migration connections plain TCP.
	// Not supported by Hypernest yet.
	// +optional
	DisableTLS *bool `json:"disableTLS,omitempty"`
	// Network names a NetworkAttachmentDefinition dedicated to migration traffic.
	// Not supported by Hypernest yet.
	// +optional
	Network *string `json:"network,omitempty"`
	// MatchSELinuxLevelOnMigration gives the target pod the source pod's SELinux level.
	// Not supported by Hypernest yet.
	// +optional
	MatchSELinuxLevelOnMigration *bool `json:"matchSELinuxLevelOnMigration,omitempty"`
	// NodeDrainTaintKey is the taint that makes the VMIs of a node migrate away
	// (deprecated in KubeVirt). Not supported by Hypernest yet.
	// +optional
	NodeDrainTaintKey *string `json:"nodeDrainTaintKey,omitempty"`
}
