// Package webhooks holds virt-api's admission webhooks: defaults for VMIs and VMs before
// they are stored, and validation that names the field of every error.
package webhooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"

	admissionv1 "k8s.io/api/admission/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/defaults"
	"github.com/hypernest/hypernest/api/core/v1/validation"
	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
	migrationsv1alpha1 "github.com/hypernest/hypernest/api/migrations/v1alpha1"
	poolv1 "github.com/hypernest/hypernest/api/pool/v1beta1"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
	"github.com/hypernest/hypernest/pkg/instancetype"
	"github.com/hypernest/hypernest/pkg/wiring"
)

// Register adds the webhooks to mux under their paths. config is the cluster
// configuration, read live from the KubeVirt object; c reads the KubeVirt objects and marks
// VMIs for evacuation, lookups reads the instance types, preferences and
// ControllerRevisions VMs name, the VMIs and migrations migrations name and the pods
// evictions name (uncached: a few reads per admission cost less than caching every
// ControllerRevision, VMI and pod).
//
// The paths are pkg/wiring's, the ones virt-operator's webhook configurations call, so
// virt-api and every test that serves the webhooks register the same set.
func Register(mux *http.ServeMux, scheme *runtime.Scheme, c client.Client, lookups client.Reader, namespace string, config ConfigFunc) {
	decoder := admission.NewDecoder(scheme)
	finder := instancetype.Finder{Reader: lookups}
	mux.Handle(wiring.MutateVMIPath, &admission.Webhook{Handler: &vmiMutator{decoder: decoder, config: config}})
	mux.Handle(wiring.MutateVMPath, &admission.Webhook{Handler: &vmMutator{decoder: decoder, finder: finder}})
	mux.Handle(wiring.ValidateVMIPath, &admission.Webhook{Handler: &vmiValidator{decoder: decoder, namespace: namespace, config: config}})
	mux.Handle(wiring.ValidateVMPath, &admission.Webhook{Handler: &vmValidator{decoder: decoder, config: config, finder: finder}})
	mux.Handle(wiring.ValidateReplicaSetPath, &admission.Webhook{Handler: &replicaSetValidator{decoder: decoder, config: config}})
	mux.Handle(wiring.ValidateKubeVirts, &admission.Webhook{Handler: &kubeVirtValidator{decoder: decoder, reader: c}})
	mux.Handle(wiring.ValidatePoolPath, &admission.Webhook{Handler: &poolValidator{decoder: decoder, config: config, finder: finder}})
	mux.Handle(wiring.ValidateInstancetypePath, &admission.Webhook{Handler: &instancetypeValidator{decoder: decoder}})
	mux.Handle(wiring.ValidatePreferencePath, &admission.Webhook{Handler: &preferenceValidator{decoder: decoder}})
	mux.Handle(wiring.MutateMigrationPath, &admission.Webhook{Handler: &migrationMutator{decoder: decoder}})
	mux.Handle(wiring.ValidateMigrationPath, &admission.Webhook{Handler: &migrationValidator{decoder: decoder, reader: lookups, namespace: namespace}})
	mux.Handle(wiring.ValidateMigrationPolicyPath, &admission.Webhook{Handler: &migrationPolicyValidator{decoder: decoder}})
	mux.Handle(wiring.ValidateEvictionPath, &admission.Webhook{Handler: &evictionValidator{decoder: decoder, reader: lookups, writer: c, config: config}})
}

// ConfigFunc returns the cluster configuration.
type ConfigFunc func(context.Context) clusterconfig.Config

// vmiMutator completes a new VMI's spec, so what is stored is what runs.
type vmiMutator struct {
	decoder admission.Decoder
	config  ConfigFunc
}

func (m *vmiMutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	vmi := &v1.VirtualMachineInstance{}
	if err := m.decoder.Decode(req, vmi); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	defaults.SetVirtualMachineInstanceSpecDefaultsFor(&vmi.Spec, m.config(ctx).DefaultNetworkInterface)
	return patchResponse(req.Object.Raw, vmi)
}

// vmMutator sets what KubeVirt sets on a VM: the machine type of its template (its
// preference's, else the default), so a VM keeps its machine type when the cluster
// default changes. The rest of the template is completed when its VMI is created.
type vmMutator struct {
	decoder admission.Decoder
	finder  instancetype.Finder
}

func (m *vmMutator) Handle(ctx context.Context, req admission.Request) admission.Response {
	vm := &v1.VirtualMachine{}
	if err := m.decoder.Decode(req, vm); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if vm.DeletionTimestamp == nil {
		// inferFromVolume matchers become named ones, from the volume's claim labels.
		if err := instancetype.Infer(ctx, m.finder.Reader, vm); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
	}
	if t := vm.Spec.Template; t != nil && vm.DeletionTimestamp == nil {
		if t.Spec.Domain.Machine == nil {
			t.Spec.Domain.Machine = &v1.Machine{}
		}
		if t.Spec.Domain.Machine.Type == "" && vm.Spec.Preference != nil {
			// A preference that cannot be read yet leaves the default; the validator
			// says why.
			if pref, err := m.finder.Preference(ctx, vm); err == nil && pref != nil && pref.Machine != nil {
				t.Spec.Domain.Machine.Type = pref.Machine.PreferredMachineType
			}
		}
		if t.Spec.Domain.Machine.Type == "" {
			t.Spec.Domain.Machine.Type = defaults.DefaultMachineType
		}
	}
	return patchResponse(req.Object.Raw, vm)
}

func patchResponse(original []byte, obj any) admission.Response {
	current, err := json.Marshal(obj)
	if err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	return admission.PatchResponseFromRaw(original, current)
}

// vmiValidator refuses VMIs Hypernest cannot run, and spec changes after creation.
type vmiValidator struct {
	decoder   admission.Decoder
	namespace string
	config    ConfigFunc
}

func (v *vmiValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	vmi := &v1.VirtualMachineInstance{}
	if err := v.decoder.Decode(req, vmi); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if req.Operation == admissionv1.Update {
		old := &v1.VirtualMachineInstance{}
		if err := v.decoder.DecodeRaw(req.OldObject, old); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		if equality.Semantic.DeepEqual(old.Spec, vmi.Spec) || v.isHypernest(req.UserInfo.Username) {
			return admission.Allowed("")
		}
		// A running guest cannot follow a changed spec; KubeVirt refuses the same.
		return invalid(field.ErrorList{field.Forbidden(field.NewPath("spec"), "a VMI's spec cannot change after it is created; change its VM, or delete and recreate the VMI")})
	}
	path := field.NewPath("spec")
	errs := validation.ValidateVirtualMachineInstanceSpec(path, &vmi.Spec)
	configErrs, warnings := checkVMISpec(ctx, v.config, path, &vmi.Spec)
	return invalid(withConfigErrors(errs, configErrs)).WithWarnings(warnings...)
}

// checkVMISpec is what every VMI spec (a VMI's, or a template's) gets besides its own
// validation: the cluster configuration's limits, and the warnings its VMIs would get.
func checkVMISpec(ctx context.Context, config ConfigFunc, path *field.Path, spec *v1.VirtualMachineInstanceSpec) (field.ErrorList, []string) {
	return validateAgainstConfig(path, spec, config(ctx)), validation.WarnVirtualMachineInstanceSpec(path, spec)
}

// withConfigErrors adds the configuration's errors to a spec's own, dropping the spec's
// errors at or under a field the configuration refuses: a field whose feature gate is off
// is answered with the gate, not also with "not supported yet".
func withConfigErrors(errs, configErrs field.ErrorList) field.ErrorList {
	superseded := func(e *field.Error) bool {
		return slices.ContainsFunc(configErrs, func(c *field.Error) bool {
			return e.Field == c.Field || strings.HasPrefix(e.Field, c.Field+".") || strings.HasPrefix(e.Field, c.Field+"[")
		})
	}
	return append(slices.DeleteFunc(errs, superseded), configErrs...)
}

// selectorUnchanged refuses a changed selector on update: it would orphan what the set
// made and start a second lot (Kubernetes' ReplicaSet keeps its selector too).
func selectorUnchanged(old, cur *metav1.LabelSelector, kind string) field.ErrorList {
	if equality.Semantic.DeepEqual(old, cur) {
		return nil
	}
	return field.ErrorList{field.Forbidden(field.NewPath("spec", "selector"), "the selector cannot change; create a new "+kind)}
}

// validateAgainstConfig refuses what the cluster configuration does not permit: fields
// whose feature gate is off, and the bridge binding where the configuration forbids it.
func validateAgainstConfig(path *field.Path, spec *v1.VirtualMachineInstanceSpec, config clusterconfig.Config) field.ErrorList {
	errs := config.GatedFieldErrors(path, spec)
	if !config.ForbidBridgeOnPodNetwork {
		return errs
	}
	podNetworks := map[string]bool{}
	for _, n := range spec.Networks {
		podNetworks[n.Name] = n.Pod != nil
	}
	for i, iface := range spec.Domain.Devices.Interfaces {
		if iface.Bridge != nil && podNetworks[iface.Name] {
			errs = append(errs, field.Forbidden(path.Child("domain", "devices", "interfaces").Index(i).Child("bridge"),
				"the bridge binding on the pod network is not permitted: the KubeVirt object sets spec.configuration.network.permitBridgeInterfaceOnPodNetwork to false; use masquerade"))
		}
	}
	return errs
}

// isHypernest: Hypernest's own components may update a VMI's spec (virt-api sets the
// grace period of `virtctl stop --grace-period`).
func (v *vmiValidator) isHypernest(username string) bool {
	switch hypernestServiceAccount(v.namespace, username) {
	case "virt-api", "virt-controller", "virt-handler":
		return true
	}
	return false
}

// hypernestServiceAccount is the name of the service account of Hypernest's namespace
// that username authenticates as, or "" when username is anything else (a user, or a
// service account of another namespace).
func hypernestServiceAccount(namespace, username string) string {
	// The API server's form of a service account's username (k8s.io/apiserver's
	// serviceaccount.MakeUsername), spelled out here rather than importing the apiserver.
	name, ok := strings.CutPrefix(username, "system:serviceaccount:"+namespace+":")
	if !ok || strings.Contains(name, ":") {
		return ""
	}
	return name
}

// vmValidator refuses VMs whose template Hypernest could not run: with their instance
// type and preference applied, when they name them.
type vmValidator struct {
	decoder admission.Decoder
	config  ConfigFunc
	finder  instancetype.Finder
}

func (v *vmValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	vm := &v1.VirtualMachine{}
	if err := v.decoder.Decode(req, vm); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if vm.DeletionTimestamp != nil {
		return admission.Allowed("") // its finalizers are removed while it goes
	}
	// The VM's pinned revisions are used first, so a later change to the instance type
	// does not make the VM's own updates fail.
	template, expand := expandedTemplate(v.finder.Expander(ctx, vm.Namespace, &vm.Status))
	errs, warnings := validation.ValidateVirtualMachineSpec(field.NewPath("spec"), &vm.Spec, expand)
	if vm.Spec.Template == nil {
		return invalid(errs).WithWarnings(warnings...)
	}
	if *template == nil {
		*template = &vm.Spec.Template.Spec
	}
	configErrs, specWarnings := checkVMISpec(ctx, v.config, field.NewPath("spec", "template", "spec"), *template)
	return invalid(withConfigErrors(errs, configErrs)).WithWarnings(append(warnings, specWarnings...)...)
}

// expandedTemplate wraps expand so that the caller learns the template it returned (nil
// when the VM names neither an instance type nor a preference, or they are missing).
func expandedTemplate(expand validation.TemplateExpander) (**v1.VirtualMachineInstanceSpec, validation.TemplateExpander) {
	var got *v1.VirtualMachineInstanceSpec
	return &got, func(path *field.Path, vmSpec *v1.VirtualMachineSpec) (*v1.VirtualMachineInstanceSpec, []string, field.ErrorList) {
		spec, warnings, errs := expand(path, vmSpec)
		got = spec
		return spec, warnings, errs
	}
}

// replicaSetValidator refuses VMI replica sets whose selector or template would not
// work, naming the field.
type replicaSetValidator struct {
	decoder admission.Decoder
	config  ConfigFunc
}

func (v *replicaSetValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	rs := &v1.VirtualMachineInstanceReplicaSet{}
	if err := v.decoder.Decode(req, rs); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if rs.DeletionTimestamp != nil {
		return admission.Allowed("") // the garbage collector's finalizer updates while it goes
	}
	errs := validation.ValidateVirtualMachineInstanceReplicaSetSpec(field.NewPath("spec"), &rs.Spec)
	var warnings []string
	if rs.Spec.Template != nil {
		var configErrs field.ErrorList
		configErrs, warnings = checkVMISpec(ctx, v.config, field.NewPath("spec", "template", "spec"), &rs.Spec.Template.Spec)
		errs = withConfigErrors(errs, configErrs)
	}
	if req.Operation == admissionv1.Update {
		old := &v1.VirtualMachineInstanceReplicaSet{}
		if err := v.decoder.DecodeRaw(req.OldObject, old); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		errs = append(errs, selectorUnchanged(old.Spec.Selector, rs.Spec.Selector, "replica set")...)
	}
	return invalid(errs).WithWarnings(warnings...)
}

// poolValidator refuses VM pools whose selector, template or strategies would not work,
// naming the field, and warns as for the VMs the pool will make.
type poolValidator struct {
	decoder admission.Decoder
	config  ConfigFunc
	finder  instancetype.Finder
}

func (v *poolValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	pool := &poolv1.VirtualMachinePool{}
	if err := v.decoder.Decode(req, pool); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if pool.DeletionTimestamp != nil {
		return admission.Allowed("") // the garbage collector's finalizer updates while it goes
	}
	template, expand := expandedTemplate(v.finder.Expander(ctx, pool.Namespace, nil))
	errs, warnings := validation.ValidateVirtualMachinePoolSpec(field.NewPath("spec"), &pool.Spec, expand)
	if t := pool.Spec.VirtualMachineTemplate; t != nil && t.Spec.Template != nil {
		if *template == nil {
			*template = &t.Spec.Template.Spec
		}
		configErrs, specWarnings := checkVMISpec(ctx, v.config, field.NewPath("spec", "virtualMachineTemplate", "spec", "template", "spec"), *template)
		errs, warnings = withConfigErrors(errs, configErrs), append(warnings, specWarnings...)
	}
	if req.Operation == admissionv1.Update {
		old := &poolv1.VirtualMachinePool{}
		if err := v.decoder.DecodeRaw(req.OldObject, old); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		errs = append(errs, selectorUnchanged(old.Spec.Selector, pool.Spec.Selector, "pool")...)
	}
	return invalid(errs).WithWarnings(warnings...)
}

// kubeVirtValidator allows one KubeVirt object in the cluster, as KubeVirt does: two
// would fight over the same components.
type kubeVirtValidator struct {
	decoder admission.Decoder
	reader  client.Reader
}

func (v *kubeVirtValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	kv := &v1.KubeVirt{}
	if err := v.decoder.Decode(req, kv); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	if errs := validation.ValidateKubeVirtConfiguration(field.NewPath("spec", "configuration"), &kv.Spec.Configuration); len(errs) > 0 {
		return invalid(errs)
	}
	var warnings []string
	if dc := kv.Spec.Configuration.DeveloperConfiguration; dc != nil {
		warnings = clusterconfig.FeatureGateWarnings(field.NewPath("spec", "configuration", "developerConfiguration", "featureGates"), dc.FeatureGates)
	}
	if req.Operation != admissionv1.Create {
		return admission.Allowed("").WithWarnings(warnings...)
	}
	list := &v1.KubeVirtList{}
	if err := v.reader.List(ctx, list); err != nil {
		return admission.Errored(http.StatusInternalServerError, err)
	}
	for _, other := range list.Items {
		if other.Namespace != kv.Namespace || other.Name != kv.Name {
			return admission.Denied(fmt.Sprintf("KubeVirt %s/%s already exists: a cluster has one KubeVirt object; edit that one", other.Namespace, other.Name))
		}
	}
	return admission.Allowed("").WithWarnings(warnings...)
}

// invalid turns field errors into a 422 Invalid answer, each error a cause with its field,
// as the API server's own validation answers (kubectl prints every one).
func invalid(errs field.ErrorList) admission.Response {
	if len(errs) == 0 {
		return admission.Allowed("")
	}
	causes := make([]metav1.StatusCause, 0, len(errs))
	for _, e := range errs {
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseType(e.Type), Message: e.ErrorBody(), Field: e.Field})
	}
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{
		Allowed: false,
		Result: &metav1.Status{
			Status:  metav1.StatusFailure,
			Code:    http.StatusUnprocessableEntity,
			Reason:  metav1.StatusReasonInvalid,
			Message: errs.ToAggregate().Error(),
			Details: &metav1.StatusDetails{Causes: causes},
		},
	}}
}

// instancetypeValidator checks instance types, namespaced and cluster-wide.
type instancetypeValidator struct{ decoder admission.Decoder }

func (v *instancetypeValidator) Handle(_ context.Context, req admission.Request) admission.Response {
	var spec *itv1.VirtualMachineInstancetypeSpec
	switch req.Kind.Kind {
	case itv1.VirtualMachineClusterInstancetypeKind:
		obj := &itv1.VirtualMachineClusterInstancetype{}
		if err := v.decoder.Decode(req, obj); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		spec = &obj.Spec
	default:
		obj := &itv1.VirtualMachineInstancetype{}
		if err := v.decoder.Decode(req, obj); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		spec = &obj.Spec
	}
	return invalid(instancetype.ValidateInstancetypeSpec(field.NewPath("spec"), spec))
}

// migrationPolicyValidator checks MigrationPolicies.
type migrationPolicyValidator struct{ decoder admission.Decoder }

func (v *migrationPolicyValidator) Handle(_ context.Context, req admission.Request) admission.Response {
	policy := &migrationsv1alpha1.MigrationPolicy{}
	if err := v.decoder.Decode(req, policy); err != nil {
		return admission.Errored(http.StatusBadRequest, err)
	}
	return invalid(validation.ValidateMigrationPolicySpec(field.NewPath("spec"), &policy.Spec))
}

// preferenceValidator checks preferences, namespaced and cluster-wide.
type preferenceValidator struct{ decoder admission.Decoder }

func (v *preferenceValidator) Handle(_ context.Context, req admission.Request) admission.Response {
	var spec *itv1.VirtualMachinePreferenceSpec
	switch req.Kind.Kind {
	case itv1.VirtualMachineClusterPreferenceKind:
		obj := &itv1.VirtualMachineClusterPreference{}
		if err := v.decoder.Decode(req, obj); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		spec = &obj.Spec
	default:
		obj := &itv1.VirtualMachinePreference{}
		if err := v.decoder.Decode(req, obj); err != nil {
			return admission.Errored(http.StatusBadRequest, err)
		}
		spec = &obj.Spec
	}
	errs, warnings := instancetype.ValidatePreferenceSpec(field.NewPath("spec"), spec)
	return invalid(errs).WithWarnings(warnings...)
}
