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
)

// Mount points of the certificate Secrets.
const (
	APICertDir     = "/etc/virt-api/certificates"
	HandlerCertDir = "/etc/virt-handler/server-certificates"
)

// Certificate Secrets.
const (
	// APICertSecretName holds virt-api's certificate: it serves webhooks and the
	// subresource API with it, and presents it to virt-handler as a client.
	APICertSecretName = "kubevirt-virt-api-certs"
	// HandlerCertSecretName holds the certificate virt-handler's console server serves.
	HandlerCertSecretName = "kubevirt-virt-handler-server-certs"
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
