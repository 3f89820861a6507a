package v1alpha1

// Conditions and reasons, CAPK's names.
const (
	// ReadyCondition summarizes the object's state (Cluster API's v1beta2 contract).
	ReadyCondition = "Ready"

	// VMProvisionedCondition tells whether the machine's VM runs.
	VMProvisionedCondition = "VMProvisioned"
	// WaitingForClusterInfrastructureReason: the KubevirtCluster is not provisioned yet.
	WaitingForClusterInfrastructureReason = "WaitingForClusterInfrastructure"
	// WaitingForBootstrapDataReason: the Machine's bootstrap data Secret is not there yet.
	WaitingForBootstrapDataReason = "WaitingForBootstrapData"
	// WaitingForControlPlaneAvailableReason: a worker waits for the control plane.
	WaitingForControlPlaneAvailableReason = "WaitingForControlPlaneAvailable"
	// VMCreateFailedReason: the VM could not be created.
	VMCreateFailedReason = "VMCreateFailed"
	// VMNotReadyReason: the VM exists, its VMI is not Ready yet.
	VMNotReadyReason = "VMNotReady"
	// VMProvisionedReason: the VM's VMI is Ready.
	VMProvisionedReason = "VMProvisioned"
	// VMLostReason: the VM was deleted or stopped behind the provider's back; the machine
	// is not silently given a new identity (Cluster API remediates it).
	VMLostReason = "VMLost"
	// VMLiveMigratableCondition tells whether the VM can be live-migrated: True with
	// reason Available, or False with the reason and message of the VMI's LiveMigratable
	// condition (as CAPK reports it; HyperShift sums it up per node pool).
	VMLiveMigratableCondition = "VMLiveMigratable"
	// VMLiveMigratableReason: the VMI's LiveMigratable condition is True.
	VMLiveMigratableReason = "Available"

	// BootstrapExecSucceededCondition tells whether the bootstrap data ran in the guest
	// (Cluster API's sentinel file exists).
	BootstrapExecSucceededCondition = "BootstrapExecSucceeded"
	// BootstrappingReason: the sentinel is not there yet.
	BootstrappingReason = "Bootstrapping"
	// BootstrapFailedReason: the check itself failed (retried).
	BootstrapFailedReason = "BootstrapFailed"
	// BootstrapSucceededReason: the sentinel is there (or the check is "none").
	BootstrapSucceededReason = "BootstrapSucceeded"

	// LoadBalancerAvailableCondition tells whether the control-plane Service exists and
	// has an address.
	LoadBalancerAvailableCondition = "LoadBalancerAvailable"
	// LoadBalancerProvisioningFailedReason: creating or reading the Service failed.
	LoadBalancerProvisioningFailedReason = "LoadBalancerProvisioningFailed"
	// LoadBalancerWaitingForAddressReason: a LoadBalancer Service has no ingress yet.
	LoadBalancerWaitingForAddressReason = "WaitingForAddress"
	// LoadBalancerAvailableReason: the Service has an address.
	LoadBalancerAvailableReason = "Available"

	// PausedReason and friends come from Cluster API's paused helper.
)
