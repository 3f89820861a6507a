// Package v1 holds the kubevirt.io/v1 API: VirtualMachine, VirtualMachineInstance,
// VirtualMachineInstanceReplicaSet and KubeVirt.
//
// The JSON shape of every type is an interface shared with KubeVirt: a manifest written
// for KubeVirt must decode here unchanged, with strict field checking. Fields are only
// ever added (optional); none is renamed or removed. The Go code is Hypernest's own.
//
// A field that Hypernest does not implement yet is still part of the schema (so a
// KubeVirt manifest is not refused by kubectl's strict decoding), and virt-api's
// validating webhook refuses it with a message naming the field. No field is silently
// ignored.
//
// +kubebuilder:object:generate=true
// +groupName=kubevirt.io
package v1
