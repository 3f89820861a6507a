package vmi

import (
	"context"
	"fmt"

	k8sv1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// ReasonPVCNotFound is KubeVirt's reason for a VMI that waits for a claim to be created
// (the VM then shows ErrorPvcNotFound).
const ReasonPVCNotFound = "FailedPvcNotFound"

// missingClaimError names a claim a VMI waits for.
type missingClaimError struct{ namespace, name string }

func (e *missingClaimError) Error() string {
	return fmt.Sprintf("PVC %s/%s does not exist, waiting for it to appear", e.namespace, e.name)
}

// claimNames lists the PersistentVolumeClaims the VMI's volumes name, in volume order.
func claimNames(vmi *v1.VirtualMachineInstance) []string {
	var names []string
	for _, vol := range vmi.Spec.Volumes {
		if vol.PersistentVolumeClaim != nil {
			names = append(names, vol.PersistentVolumeClaim.ClaimName)
		}
	}
	return names
}

// lookupClaims reads the claims the VMI uses, by name. A claim that does not exist yet
// gives a *missingClaimError: the VMI waits for it, as in KubeVirt. A claim being
// deleted is refused too: a pod would wait for it forever.
func (r *Reconciler) lookupClaims(ctx context.Context, vmi *v1.VirtualMachineInstance) (map[string]*k8sv1.PersistentVolumeClaim, error) {
	claims := map[string]*k8sv1.PersistentVolumeClaim{}
	for _, name := range claimNames(vmi) {
		claim := &k8sv1.PersistentVolumeClaim{}
		err := r.Get(ctx, types.NamespacedName{Namespace: vmi.Namespace, Name: name}, claim)
		if apierrors.IsNotFound(err) || (err == nil && claim.DeletionTimestamp != nil) {
			return nil, &missingClaimError{namespace: vmi.Namespace, name: name}
		}
		if err != nil {
			return nil, err
		}
		claims[name] = claim
	}
	return claims, nil
}

// setClaimStatus records each claim's size, modes and access in the VMI's volumeStatus,
// as KubeVirt's persistentVolumeClaimInfo: virt-launcher sizes a new disk.img from it
// (capacity once the claim is bound, its request before).
func setClaimStatus(vmi *v1.VirtualMachineInstance, claims map[string]*k8sv1.PersistentVolumeClaim) {
	for _, vol := range vmi.Spec.Volumes {
		if vol.PersistentVolumeClaim == nil {
			continue
		}
		claim := claims[vol.PersistentVolumeClaim.ClaimName]
		if claim == nil {
			continue
		}
		info := &v1.PersistentVolumeClaimInfo{
			ClaimName:   claim.Name,
			AccessModes: claim.Spec.AccessModes,
			VolumeMode:  claim.Spec.VolumeMode,
			Capacity:    claim.Status.Capacity,
			Requests:    claim.Spec.Resources.Requests,
		}
		status := volumeStatus(vmi, vol.Name)
		status.PersistentVolumeClaimInfo = info
	}
}

// volumeStatus returns the VMI's status entry for a volume, adding it if there is none.
func volumeStatus(vmi *v1.VirtualMachineInstance, name string) *v1.VolumeStatus {
	for i := range vmi.Status.VolumeStatus {
		if vmi.Status.VolumeStatus[i].Name == name {
			return &vmi.Status.VolumeStatus[i]
		}
	}
	vmi.Status.VolumeStatus = append(vmi.Status.VolumeStatus, v1.VolumeStatus{Name: name})
	return &vmi.Status.VolumeStatus[len(vmi.Status.VolumeStatus)-1]
}

// vmisForClaim wakes the VMIs that wait for a claim, or that use it and are still
// starting: a claim created, bound or resized changes what they do next.
func (r *Reconciler) vmisForClaim(ctx context.Context, obj client.Object) []reconcile.Request {
	list := &v1.VirtualMachineInstanceList{}
	if err := r.List(ctx, list, client.InNamespace(obj.GetNamespace())); err != nil {
		return nil
	}
	var out []reconcile.Request
	for i := range list.Items {
		vmi := &list.Items[i]
		if vmi.Status.Phase != v1.VmPhaseUnset && vmi.Status.Phase != v1.Pending && vmi.Status.Phase != v1.Scheduling {
			continue
		}
		for _, name := range claimNames(vmi) {
			if name == obj.GetName() {
				out = append(out, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(vmi)})
				break
			}
		}
	}
	return out
}
