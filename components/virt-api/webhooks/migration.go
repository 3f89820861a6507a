package webhooks

import (
	"context"
	"fmt"
	"net/http"
	"slices"

	admissionv1 "k8s.io/api/admission/v1"
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// migrationMutator labels a new migration with its VMI's name, so a VMI's migrations are
// listed by label, and adds the finalizer that keeps it until it ended (KubeVirt's
// migrations-mutator).
type migrationMutator struct{ decoder admission.Decoder }

func (m *migrationMutator) Handle(_ context.Context, req admission.Request) admission.Response {
	vmim := &v1.VirtualMachineInstanceMigration{}
	if err := m.decoder.Decode(req, vmim); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if vmim.Labels == nil {
		vmim.Labels = map[string]string{}
	}
	vmim.Labels[v1.MigrationSelectorLabel] = vmim.Spec.VMIName
	if !slices.Contains(vmim.Finalizers, v1.MigrationFinalizer) {
		vmim.Finalizers = append(vmim.Finalizers, v1.MigrationFinalizer)
	}
	return patchResponse(req.Object.Raw, vmim)
}

// migrationValidator refuses migrations that cannot happen, with KubeVirt's messages
// (tools match them): of a VMI that does not exist, has ended or is not live-migratable,
// a second one while one is in flight, and changes to a migration's spec.
type migrationValidator struct {
	decoder admission.Decoder
	// reader reads VMIs and migrations uncached: a migration is rare, and an informer on
	// every VMI would cost virt-api memory for it.
	reader    client.Reader
	namespace string
}

func (v *migrationValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	vmim := &v1.VirtualMachineInstanceMigration{}
	if err := v.decoder.Decode(req, vmim); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if req.Operation == admissionv1.Update {
		old := &v1.VirtualMachineInstanceMigration{}
		if err := v.decoder.DecodeRaw(req.OldObject, old); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		return invalid(validateMigrationUpdate(old, vmim))
	}

	spec := field.NewPath("spec")
	if vmim.Spec.VMIName == "" {
		return invalid(field.ErrorList{field.Required(spec.Child("vmiName"), "vmiName is missing")})
	}
	if vmim.Spec.Priority != nil && hypernestServiceAccount(v.namespace, req.UserInfo.Username) != "virt-controller" {
		// KubeVirt names the field spec.migrationPriority; the field is spec.priority.
		return invalid(field.ErrorList{field.Forbidden(spec.Child("priority"), "Migration priority queue, only virt-controller is allowed to set priority field")})
	}
	// The selector goes into the target pod's node selector: a key or value the pod
	// would be refused for is refused here, naming it, before anything is scheduled.
	if errs := metav1validation.ValidateLabels(vmim.Spec.AddedNodeSelector, spec.Child("addedNodeSelector")); len(errs) > 0 {
		return invalid(errs)
	}
	vmi := &v1.VirtualMachineInstance{}
	if err := v.reader.Get(ctx, client.ObjectKey{Namespace: vmim.Namespace, Name: vmim.Spec.VMIName}, vmi); apierrors.IsNotFound(err) {
		return invalid(field.ErrorList{field.Invalid(spec.Child("vmiName"), vmim.Spec.VMIName,
			fmt.Sprintf("the VMI %q does not exist", vmim.Namespace+"/"+vmim.Spec.VMIName))})
	} else if err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("reading VMI %s/%s: %w; try again", vmim.Namespace, vmim.Spec.VMIName, err))
	}
	if vmi.Status.Phase.IsFinal() {
		return admission.Denied("Cannot migrate VMI in finalized state.")
	}
	if c := v1.VMICondition(&vmi.Status, v1.VirtualMachineInstanceIsMigratable); c != nil && c.Status == k8sv1.ConditionFalse {
		return admission.Denied(fmt.Sprintf("Cannot migrate VMI, Reason: %s, Message: %s", c.Reason, c.Message))
	}
	migrations := &v1.VirtualMachineInstanceMigrationList{}
	if err := v.reader.List(ctx, migrations, client.InNamespace(vmim.Namespace), client.MatchingLabels{v1.MigrationSelectorLabel: vmi.Name}); err != nil {
		return admission.Errored(http.StatusInternalServerError, fmt.Errorf("listing the migrations of VMI %s/%s: %w; try again", vmi.Namespace, vmi.Name, err))
	}
	for _, other := range migrations.Items {
		if !other.Status.Phase.IsFinal() {
			return admission.Denied(fmt.Sprintf("in-flight migration detected. Active migration job (%s) is currently already in progress for VMI %s.", other.UID, vmi.Name))
		}
	}
	// A VMI not running yet has no LiveMigratable condition: the migration waits for it
	// (virt-controller creates the target pod once the VMI runs), as in KubeVirt.
	return admission.Allowed("")
}

// validateMigrationUpdate refuses spec changes, and moving an unfinished migration to
// another VMI's label.
func validateMigrationUpdate(old, cur *v1.VirtualMachineInstanceMigration) field.ErrorList {
	if !equality.Semantic.DeepEqual(old.Spec, cur.Spec) {
		return field.ErrorList{field.Forbidden(field.NewPath("spec"), "update of Migration object's spec is restricted")}
	}
	if old.Status.Phase.IsFinal() || cur.DeletionTimestamp != nil {
		return nil
	}
	if was, ok := old.Labels[v1.MigrationSelectorLabel]; ok && cur.Labels[v1.MigrationSelectorLabel] != was {
		return field.ErrorList{field.Forbidden(field.NewPath("metadata", "labels").Key(v1.MigrationSelectorLabel),
			"selector label can't be removed from / modified on an in-flight migration")}
	}
	return nil
}
