package instancetype

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
)

// Labels on the ControllerRevisions that pin an instance type's or preference's content
// (KubeVirt's).
const (
	ObjectGenerationLabel = "instancetype.kubevirt.io/object-generation"
	ObjectKindLabel       = "instancetype.kubevirt.io/object-kind"
	ObjectNameLabel       = "instancetype.kubevirt.io/object-name"
	ObjectUIDLabel        = "instancetype.kubevirt.io/object-uid"
	ObjectVersionLabel    = "instancetype.kubevirt.io/object-version"
)

// Finder reads the instance types and preferences VMs name.
type Finder struct {
	Reader client.Reader
}

// KindError is a matcher's kind that names no instance type or preference kind.
type KindError struct{ Kind, Matcher string }

func (e *KindError) Error() string {
	return fmt.Sprintf("got unexpected kind in %s: %s", e.Matcher, e.Kind)
}

// InstancetypeKind is the matcher's kind, spelled canonically: KubeVirt accepts any
// casing and the plural, and the cluster kind when it names none.
func InstancetypeKind(kind string) (string, error) {
	switch strings.ToLower(kind) {
	case "", "virtualmachineclusterinstancetype", "virtualmachineclusterinstancetypes":
		return itv1.VirtualMachineClusterInstancetypeKind, nil
	case "virtualmachineinstancetype", "virtualmachineinstancetypes":
		return itv1.VirtualMachineInstancetypeKind, nil
	}
	return "", &KindError{Kind: kind, Matcher: "InstancetypeMatcher"}
}

// PreferenceKind is InstancetypeKind for preferences.
func PreferenceKind(kind string) (string, error) {
	switch strings.ToLower(kind) {
	case "", "virtualmachineclusterpreference", "virtualmachineclusterpreferences":
		return itv1.VirtualMachineClusterPreferenceKind, nil
	case "virtualmachinepreference", "virtualmachinepreferences":
		return itv1.VirtualMachinePreferenceKind, nil
	}
	return "", &KindError{Kind: kind, Matcher: "PreferenceMatcher"}
}

// Instancetype is the spec of the VM's instance type, nil when it names none. It comes,
// in KubeVirt's order, from spec.instancetype.revisionName, from the revision the VM's
// status captured for the same name, or from the object itself.
func (f Finder) Instancetype(ctx context.Context, vm *v1.VirtualMachine) (*itv1.VirtualMachineInstancetypeSpec, error) {
	m := vm.Spec.Instancetype
	if m == nil {
		return nil, nil
	}
	obj, err := f.find(ctx, vm.Namespace, m.RevisionName, m.Name, vm.Status.InstancetypeRef, func() (client.Object, error) {
		return f.instancetypeObject(ctx, vm.Namespace, m.Name, m.Kind)
	})
	if err != nil {
		return nil, err
	}
	return instancetypeSpecOf(obj)
}

// Preference is Instancetype for the VM's preference.
func (f Finder) Preference(ctx context.Context, vm *v1.VirtualMachine) (*itv1.VirtualMachinePreferenceSpec, error) {
	m := vm.Spec.Preference
	if m == nil {
		return nil, nil
	}
	obj, err := f.find(ctx, vm.Namespace, m.RevisionName, m.Name, vm.Status.PreferenceRef, func() (client.Object, error) {
		return f.preferenceObject(ctx, vm.Namespace, m.Name, m.Kind)
	})
	if err != nil {
		return nil, err
	}
	return preferenceSpecOf(obj)
}

func (f Finder) find(ctx context.Context, namespace, revisionName, name string, ref *v1.InstancetypeStatusRef, live func() (client.Object, error)) (client.Object, error) {
	if revisionName != "" {
		return f.fromRevision(ctx, namespace, revisionName)
	}
	if ref != nil && ref.ControllerRevisionRef != nil && ref.ControllerRevisionRef.Name != "" {
		rev := &appsv1.ControllerRevision{}
		if err := f.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: ref.ControllerRevisionRef.Name}, rev); err == nil && rev.Labels[ObjectNameLabel] == name {
			return decodeRevision(rev)
		}
	}
	return live()
}

func (f Finder) fromRevision(ctx context.Context, namespace, name string) (client.Object, error) {
	rev := &appsv1.ControllerRevision{}
	if err := f.Reader.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, rev); err != nil {
		return nil, err
	}
	return decodeRevision(rev)
}

func (f Finder) instancetypeObject(ctx context.Context, namespace, name, kind string) (client.Object, error) {
	canonical, err := InstancetypeKind(kind)
	if err != nil {
		return nil, err
	}
	return Get(ctx, f.Reader, canonical, namespace, name)
}

func (f Finder) preferenceObject(ctx context.Context, namespace, name, kind string) (client.Object, error) {
	canonical, err := PreferenceKind(kind)
	if err != nil {
		return nil, err
	}
	return Get(ctx, f.Reader, canonical, namespace, name)
}

// NewObject is an empty object of one of the four kinds, spelled canonically (as
// InstancetypeKind and PreferenceKind give them); nil for any other kind.
func NewObject(kind string) client.Object {
	switch kind {
	case itv1.VirtualMachineInstancetypeKind:
		return &itv1.VirtualMachineInstancetype{}
	case itv1.VirtualMachineClusterInstancetypeKind:
		return &itv1.VirtualMachineClusterInstancetype{}
	case itv1.VirtualMachinePreferenceKind:
		return &itv1.VirtualMachinePreference{}
	case itv1.VirtualMachineClusterPreferenceKind:
		return &itv1.VirtualMachineClusterPreference{}
	}
	return nil
}

// Key is where the instance type or preference of kind (canonical) named name, asked
// for from namespace, lives: the namespaced kinds in namespace, the cluster kinds in no
// namespace (so every namespace's VMs name the same cluster object).
func Key(kind, namespace, name string) types.NamespacedName {
	if kind == itv1.VirtualMachineClusterInstancetypeKind || kind == itv1.VirtualMachineClusterPreferenceKind {
		namespace = ""
	}
	return types.NamespacedName{Namespace: namespace, Name: name}
}

// Get reads the instance type or preference of kind (canonical) named name, asked for
// from namespace (see Key).
func Get(ctx context.Context, r client.Reader, kind, namespace, name string) (client.Object, error) {
	obj := NewObject(kind)
	if obj == nil {
		return nil, fmt.Errorf("%q is not an instance type or preference kind", kind)
	}
	return obj, r.Get(ctx, Key(kind, namespace, name), obj)
}

// decodeRevision reads the object a revision holds, by the kind it records.
func decodeRevision(rev *appsv1.ControllerRevision) (client.Object, error) {
	var meta struct {
		Kind string `json:"kind"`
	}
	if err := json.Unmarshal(rev.Data.Raw, &meta); err != nil {
		return nil, fmt.Errorf("ControllerRevision %s: %w", rev.Name, err)
	}
	obj := NewObject(meta.Kind)
	if obj == nil {
		return nil, fmt.Errorf("ControllerRevision %s holds a %q, not an instance type or preference", rev.Name, meta.Kind)
	}
	if err := json.Unmarshal(rev.Data.Raw, obj); err != nil {
		return nil, fmt.Errorf("ControllerRevision %s: %w", rev.Name, err)
	}
	return obj, nil
}

func instancetypeSpecOf(obj client.Object) (*itv1.VirtualMachineInstancetypeSpec, error) {
	switch o := obj.(type) {
	case *itv1.VirtualMachineInstancetype:
		return &o.Spec, nil
	case *itv1.VirtualMachineClusterInstancetype:
		return &o.Spec, nil
	}
	return nil, fmt.Errorf("%s %s is not an instance type", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName())
}

func preferenceSpecOf(obj client.Object) (*itv1.VirtualMachinePreferenceSpec, error) {
	switch o := obj.(type) {
	case *itv1.VirtualMachinePreference:
		return &o.Spec, nil
	case *itv1.VirtualMachineClusterPreference:
		return &o.Spec, nil
	}
	return nil, fmt.Errorf("%s %s is not a preference", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName())
}
