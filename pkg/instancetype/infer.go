package instancetype

import (
	"context"
	"errors"
	"fmt"

	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// ignorableError is a failure inferFromVolumeFailurePolicy: Ignore may ignore: the volume
// is of a kind that carries no labels, or lacks the label. A claim that cannot be read
// is never ignored.
type ignorableError struct{ error }

func (e *ignorableError) Unwrap() error { return e.error }

// Infer replaces the VM's inferFromVolume matchers by the instance type and preference
// its volume's PersistentVolumeClaim names in KubeVirt's labels
// (instancetype.kubevirt.io/default-instancetype[-kind], .../default-preference[-kind]),
// as KubeVirt's VM mutating webhook does when the VM is admitted. Errors carry KubeVirt's
// messages.
func Infer(ctx context.Context, r client.Reader, vm *v1.VirtualMachine) error {
	if m := vm.Spec.Instancetype; m != nil && m.InferFromVolume != "" {
		name, kind, found, err := inferMatcher(ctx, r, vm, m.InferFromVolume, m.InferFromVolumeFailurePolicy, v1.DefaultInstancetypeLabel, v1.DefaultInstancetypeKindLabel)
		switch {
		case err != nil:
			return err
		case !found:
			vm.Spec.Instancetype = nil
		default:
			if ignoresFailure(m.InferFromVolumeFailurePolicy) && vm.Spec.Template != nil {
				// A VM that would also run without the instance type carries its own
				// memory, which would conflict with the inferred one.
				vm.Spec.Template.Spec.Domain.Memory = nil
			}
			vm.Spec.Instancetype = &v1.InstancetypeMatcher{Name: name, Kind: kind}
		}
	}
	if m := vm.Spec.Preference; m != nil && m.InferFromVolume != "" {
		name, kind, found, err := inferMatcher(ctx, r, vm, m.InferFromVolume, m.InferFromVolumeFailurePolicy, v1.DefaultPreferenceLabel, v1.DefaultPreferenceKindLabel)
		switch {
		case err != nil:
			return err
		case !found:
			vm.Spec.Preference = nil
		default:
			vm.Spec.Preference = &v1.PreferenceMatcher{Name: name, Kind: kind}
		}
	}
	return nil
}

// inferMatcher reads a matcher's name and kind from its volume's claim. found is false,
// with no error, when the failure policy is Ignore and the failure may be ignored: the
// matcher is then dropped.
func inferMatcher(ctx context.Context, r client.Reader, vm *v1.VirtualMachine, volume string, policy *string, nameLabel, kindLabel string) (name, kind string, found bool, err error) {
	name, kind, err = inferFromVolume(ctx, r, vm, volume, nameLabel, kindLabel)
	var ignorable *ignorableError
	if err != nil && ignoresFailure(policy) && errors.As(err, &ignorable) {
		return "", "", false, nil
	}
	return name, kind, err == nil, err
}

func ignoresFailure(policy *string) bool {
	return policy != nil && *policy == v1.IgnoreInferFromVolumeFailure
}

func inferFromVolume(ctx context.Context, r client.Reader, vm *v1.VirtualMachine, volume, nameLabel, kindLabel string) (string, string, error) {
	if vm.Spec.Template != nil {
		for _, vol := range vm.Spec.Template.Spec.Volumes {
			if vol.Name != volume {
				continue
			}
			if vol.PersistentVolumeClaim == nil {
				// KubeVirt also follows DataVolumes to their claims; they need CDI.
				return "", "", &ignorableError{fmt.Errorf("unable to infer defaults from volume %s as type is not supported", volume)}
			}
			claim := &k8sv1.PersistentVolumeClaim{}
			if err := r.Get(ctx, types.NamespacedName{Namespace: vm.Namespace, Name: vol.PersistentVolumeClaim.ClaimName}, claim); err != nil {
				return "", "", err
			}
			name, ok := claim.Labels[nameLabel]
			if !ok {
				return "", "", &ignorableError{fmt.Errorf("unable to find required %s label on the volume", nameLabel)}
			}
			return name, claim.Labels[kindLabel], nil
		}
	}
	return "", "", fmt.Errorf("unable to find volume %s to infer defaults", volume)
}
