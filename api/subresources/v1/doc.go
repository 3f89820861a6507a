// Package v1 holds the request bodies of the subresources.kubevirt.io/v1 API that virt-api
// serves through the apiserver's aggregation layer: start, stop, restart, pause, unpause,
// console and vnc. They are sent as JSON with apiVersion subresources.kubevirt.io/v1 and
// the kind of the options type, exactly as KubeVirt's virtctl sends them.
//
// These types are request bodies, not stored resources, so no CRD is generated for them.
//
// +kubebuilder:object:generate=true
// +kubebuilder:skip
// +groupName=subresources.kubevirt.io
package v1
