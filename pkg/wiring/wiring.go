// Package wiring names how Hypernest's components find and trust each other: ports,
// webhook paths, certificate Secrets and where they are mounted, and the names on the
// certificates. virt-operator (components/virt-operator/install) makes the objects that
// carry these names; virt-api and virt-handler serve and dial by them. KubeVirt's names
// where KubeVirt has one, so its documentation applies.
package wiring

// Component names: each names its Deployment or DaemonSet, service account and RBAC
// objects.
const (
	APIName     = "virt-api"
	HandlerName = "virt-handler"
)

// virt-api's ports: it listens unprivileged on APIPort; its Service offers 443.
const (
	APIPort = 8443
	// HandlerConsolePort is virt-handler's console and pause server (KubeVirt's 8186).
	HandlerConsolePort = 8186
)

// Webhook paths served by virt-api.
const (
	MutateVMIPath          = "/mutate-virtualmachineinstances"
	MutateVMPath           = "/mutate-virtualmachines"
	ValidateVMIPath        = "/validate-virtualmachineinstances"
	ValidateVMPath         = "/validate-virtualmachines"
	ValidateReplicaSetPath = "/validate-virtualmachineinstancereplicasets"
	ValidatePoolPath       = "/validate-virtualmachinepools"
	ValidateKubeVirts      = "/validate-kubevirts"
	// ValidateInstancetypePath and ValidatePreferencePath check instance types and
	// preferences, namespaced and cluster-wide.
	ValidateInstancetypePath = "/validate-instancetypes"
	ValidatePreferencePath   = "/validate-preferences"
	// MutateMigrationPath and ValidateMigrationPath admit VirtualMachineInstanceMigrations.
	MutateMigrationPath   = "/mutate-virtualmachineinstancemigrations"
	ValidateMigrationPath = "/validate-virtualmachineinstancemigrations"
	// ValidateMigrationPolicyPath checks MigrationPolicies (KubeVirt's path).
	ValidateMigrationPolicyPath = "/migration-policy-validate-create"
	// ValidateEvictionPath answers evictions of virt-launcher pods (KubeVirt's path).
	ValidateEvictionPath = "/pod-eviction-validate"
)

// Mount points of the certificate Secrets.
const (
	APICertDir = "/etc/virt-api/certificates"
	// HandlerCADir holds HandlerCASecretName: the CA virt-handler checks virt-api's
	// client certificate with, and its own certificate must chain to.
	HandlerCADir = "/etc/virt-handler/ca"
	// ControllerCADir holds CASecretName in virt-controller, the signer of virt-handlers'
	// certificates.
	ControllerCADir = "/etc/virt-controller/ca"
)

// QEMUCapabilitiesDir is where virt-handler's qemu-capabilities init container leaves
// libvirt's QEMU capabilities cache for virt-handler to send to launchers (an emptyDir
// of the virt-handler pod).
const QEMUCapabilitiesDir = "/var/run/kubevirt-qemu-capabilities"

// Certificate Secrets.
const (
	// CASecretName holds the CA that signs every Hypernest certificate (tls.crt,
	// tls.key): virt-operator makes it; virt-controller mounts it to sign virt-handlers'.
	// KubeVirt's names, so its docs apply.
	CASecretName = "kubevirt-ca"
	// APICertSecretName holds virt-api's certificate: it serves webhooks and the
	// subresource API with it, and presents it to virt-handler as a client.
	APICertSecretName = "kubevirt-virt-api-certs"
	// HandlerCASecretName holds only the CA certificate (CABundleKey): each virt-handler
	// has a certificate of its own, naming its node (HandlerSignerName), and no key is
	// shared between nodes.
	HandlerCASecretName = "kubevirt-virt-handler-ca"
	// ObsoleteHandlerCertSecretName held the one certificate and key every virt-handler
	// served with before they had one each; virt-operator deletes it.
	ObsoleteHandlerCertSecretName = "kubevirt-virt-handler-server-certs"
	// CABundleKey is where each certificate Secret carries the CA, so a component trusts
	// exactly the CA that signed its peer.
	CABundleKey = "ca.crt"
)

// Certificate subjects: virt-handler accepts only a client named APIClientName, and
// virt-api dials virt-handler by HandlerServerName whatever its pod's IP.
const (
	APIClientName     = "virt-api"
	HandlerServerName = "virt-handler.kubevirt.internal"
)

// HandlerSignerName is the signer of virt-handlers' certificates: each virt-handler asks
// for its own through a CertificateSigningRequest, and virt-controller signs it only when
// the request comes from virt-handler's service account on the node it names (the
// node-name its pod-bound token carries, authentication.kubernetes.io/node-name).
const HandlerSignerName = "hypernest.io/virt-handler"

// HandlerCommonName is the subject of the virt-handler certificate for node: virt-api
// accepts a handler only when its certificate names the VMI's node, so a handler (or a
// stolen key) of one node cannot answer for another's guests.
func HandlerCommonName(node string) string { return "kubevirt.io:virt-handler:" + node }
