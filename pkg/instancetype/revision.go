package instancetype

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
)

// Failure reasons on a VM whose instance type or preference cannot be used (KubeVirt's).
const (
	ReasonFailedFindInstancetype = "FailedFindInstancetype"
	ReasonFailedFindPreference   = "FailedFindPreference"
	ReasonFailedCreate           = "FailedCreate"
)

// StoreError says why a VM's instance type or preference could not be captured; Reason
// is the VM's Failure condition reason.
type StoreError struct {
	Reason string
	Err    error
}

func (e *StoreError) Error() string { return e.Err.Error() }
func (e *StoreError) Unwrap() error { return e.Err }

// Store captures what the VM's instance type and preference say now in
// ControllerRevisions owned by the VM and records them in vm.Status (the caller writes
// the status). Once captured, a later change to the instance type does not change the
// VM: its VMIs are built from the revision until the VM names another one.
func Store(ctx context.Context, c client.Client, vm *v1.VirtualMachine) error {
	if m := vm.Spec.Instancetype; m != nil {
		kind, err := InstancetypeKind(m.Kind)
		if err != nil {
			return &StoreError{Reason: ReasonFailedFindInstancetype, Err: err}
		}
		ref, err := storeOne(ctx, c, vm, vm.Status.InstancetypeRef, m.Name, kind, m.InferFromVolume, m.InferFromVolumeFailurePolicy, m.RevisionName,
			func() (client.Object, error) {
				return Finder{Reader: c}.instancetypeObject(ctx, vm.Namespace, m.Name, m.Kind)
			},
			func(obj client.Object) error {
				// The VM's own template must leave the instance type's fields to it.
				spec, _ := instancetypeSpecOf(obj)
				if conflicts := applyInstancetype(field.NewPath("spec", "template", "spec"), spec, nil, vm.Spec.Template.Spec.DeepCopy(), vm.Spec.Template.ObjectMeta.DeepCopy()); len(conflicts) > 0 {
					return &StoreError{Reason: ReasonFailedCreate, Err: conflicts}
				}
				return nil
			}, ReasonFailedFindInstancetype)
		if err != nil {
			return err
		}
		vm.Status.InstancetypeRef = ref
	}
	if m := vm.Spec.Preference; m != nil {
		kind, err := PreferenceKind(m.Kind)
		if err != nil {
			return &StoreError{Reason: ReasonFailedFindPreference, Err: err}
		}
		ref, err := storeOne(ctx, c, vm, vm.Status.PreferenceRef, m.Name, kind, m.InferFromVolume, m.InferFromVolumeFailurePolicy, m.RevisionName,
			func() (client.Object, error) {
				return Finder{Reader: c}.preferenceObject(ctx, vm.Namespace, m.Name, m.Kind)
			}, nil, ReasonFailedFindPreference)
		if err != nil {
			return err
		}
		vm.Status.PreferenceRef = ref
	}
	return nil
}

func storeOne(ctx context.Context, c client.Client, vm *v1.VirtualMachine, current *v1.InstancetypeStatusRef,
	name, kind, infer string, inferPolicy *string, revisionName string,
	live func() (client.Object, error), check func(client.Object) error, findReason string,
) (*v1.InstancetypeStatusRef, error) {
	ref := &v1.InstancetypeStatusRef{}
	if current != nil {
		ref = current.DeepCopy()
	}
	if ref.Name != name || ref.Kind != kind || ref.InferFromVolume != infer {
		ref.Name, ref.Kind, ref.InferFromVolume = name, kind, infer
		ref.ControllerRevisionRef = nil
	}
	ref.InferFromVolumeFailurePolicy = inferPolicy
	if revisionName != "" {
		ref.ControllerRevisionRef = &v1.ControllerRevisionRef{Name: revisionName}
	}
	if ref.ControllerRevisionRef != nil {
		return ref, nil
	}
	obj, err := live()
	if err != nil {
		return nil, &StoreError{Reason: findReason, Err: err}
	}
	if check != nil {
		if err := check(obj); err != nil {
			return nil, err
		}
	}
	rev, err := newRevision(vm, obj)
	if err != nil {
		return nil, err
	}
	if err := createRevision(ctx, c, rev); err != nil {
		return nil, &StoreError{Reason: ReasonFailedCreate, Err: fmt.Errorf("error encountered while storing instancetype.kubevirt.io controllerRevisions: %w", err)}
	}
	ref.ControllerRevisionRef = &v1.ControllerRevisionRef{Name: rev.Name}
	return ref, nil
}

// RevisionName is KubeVirt's: <vm>-<object>-<version>-<object uid>-<object generation>.
func RevisionName(vm *v1.VirtualMachine, obj client.Object) string {
	return fmt.Sprintf("%s-%s-%s-%s-%d", vm.Name, obj.GetName(), itv1.SchemeGroupVersion.Version, obj.GetUID(), obj.GetGeneration())
}

// newRevision holds the object as it is now, with the metadata that says nothing about
// its content (labels, annotations, finalizers, owners, managed fields) left out.
func newRevision(vm *v1.VirtualMachine, obj client.Object) (*appsv1.ControllerRevision, error) {
	kind := kindOf(obj)
	obj = obj.DeepCopyObject().(client.Object)
	obj.GetObjectKind().SetGroupVersionKind(itv1.SchemeGroupVersion.WithKind(kind))
	obj.SetLabels(nil)
	obj.SetAnnotations(nil)
	obj.SetFinalizers(nil)
	obj.SetOwnerReferences(nil)
	obj.SetManagedFields(nil)
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:      RevisionName(vm, obj),
			Namespace: vm.Namespace,
			Labels: map[string]string{
				ObjectGenerationLabel: strconv.FormatInt(obj.GetGeneration(), 10),
				ObjectKindLabel:       kind,
				ObjectNameLabel:       obj.GetName(),
				ObjectUIDLabel:        string(obj.GetUID()),
				ObjectVersionLabel:    itv1.SchemeGroupVersion.Version,
			},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(vm, v1.VirtualMachineGroupVersionKind)},
		},
		Data: runtime.RawExtension{Raw: raw},
	}, nil
}

// createRevision creates rev; one of the same name is reused when it holds the same spec
// (a restarted controller, or a second VM pass), and an error otherwise.
func createRevision(ctx context.Context, c client.Client, rev *appsv1.ControllerRevision) error {
	err := c.Create(ctx, rev)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	existing := &appsv1.ControllerRevision{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: rev.Namespace, Name: rev.Name}, existing); err != nil {
		return err
	}
	a, errA := decodeRevision(existing)
	b, errB := decodeRevision(rev)
	if errA != nil || errB != nil || !equality.Semantic.DeepEqual(specOf(a), specOf(b)) {
		return fmt.Errorf("found existing ControllerRevision with unexpected data: %s", rev.Name)
	}
	return nil
}

func kindOf(obj client.Object) string {
	switch obj.(type) {
	case *itv1.VirtualMachineInstancetype:
		return itv1.VirtualMachineInstancetypeKind
	case *itv1.VirtualMachineClusterInstancetype:
		return itv1.VirtualMachineClusterInstancetypeKind
	case *itv1.VirtualMachinePreference:
		return itv1.VirtualMachinePreferenceKind
	case *itv1.VirtualMachineClusterPreference:
		return itv1.VirtualMachineClusterPreferenceKind
	}
	return ""
}

func specOf(obj client.Object) any {
	if s, err := instancetypeSpecOf(obj); err == nil {
		return s
	}
	s, _ := preferenceSpecOf(obj)
	return s
}
