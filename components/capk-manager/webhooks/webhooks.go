// Package webhooks validates the provider's objects before the API server stores them,
// answering a bad spec with a 422 whose causes name each field, as the API server's own
// validation does. The embedded VirtualMachine spec is checked with the same rules
// virt-api applies to VMs, on the VM the provider would make from it.
package webhooks

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/validation"
	infrav1 "github.com/hypernest/hypernest/api/infrastructure/v1alpha1"
	"github.com/hypernest/hypernest/components/capk-manager/vm"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
)

// Setup registers the validating webhooks with the manager's webhook server.
func Setup(mgr ctrl.Manager) error {
	gates := &gateReader{reader: mgr.GetClient()}
	if err := ctrl.NewWebhookManagedBy(mgr, &infrav1.KubevirtMachine{}).WithValidator(&machineValidator{gates: gates}).Complete(); err != nil {
		return err
	}
	if err := ctrl.NewWebhookManagedBy(mgr, &infrav1.KubevirtMachineTemplate{}).WithValidator(&machineTemplateValidator{gates: gates}).Complete(); err != nil {
		return err
	}
	return ctrl.NewWebhookManagedBy(mgr, &infrav1.KubevirtCluster{}).WithValidator(&clusterValidator{}).Complete()
}

// gateReader tells whether a feature gate is on in the local cluster's KubeVirt object.
type gateReader struct{ reader client.Reader }

func (g *gateReader) enabled(ctx context.Context, gate string) (bool, error) {
	list := &kubevirtv1.KubeVirtList{}
	if err := g.reader.List(ctx, list); err != nil {
		return false, err
	}
	for i := range list.Items {
		if clusterconfig.FromKubeVirt(&list.Items[i]).GateEnabled(gate) {
			return true, nil
		}
	}
	return false, nil
}

// ValidateMachineSpec checks a KubevirtMachineSpec found at path. gateOn tells whether
// the GuestAgentBootstrapCheck gate is on (nil: not known here, e.g. for an external
// infrastructure cluster, where the reconciler checks it).
func ValidateMachineSpec(path *field.Path, name string, spec *infrav1.KubevirtMachineSpec, gateOn *bool) field.ErrorList {
	var errs field.ErrorList
	tmplPath := path.Child("virtualMachineTemplate", "spec")
	vmSpec := &spec.VirtualMachineTemplate.Spec
	if vmSpec.Template == nil {
		errs = append(errs, field.Required(tmplPath.Child("template"), "the VM template needs the template of its VMI (domain, volumes, networks)"))
	} else {
		// Check the VM the provider would make: the template with the bootstrap volume
		// and disk added, as virt-api will check it.
		rendered := vm.Build(&infrav1.KubevirtMachine{Spec: *spec.DeepCopy()}, vm.Params{ClusterName: "check", Namespace: "check", BootstrapSecretName: "check"})
		rendered.Spec.Template.Spec.Hostname = "" // the machine's name is added later; not the user's field
		// Instance types are refused here: the VM may live in another (infrastructure)
		// cluster, where this webhook cannot look them up.
		vmErrs, _ := validation.ValidateVirtualMachineSpec(tmplPath, &rendered.Spec, nil)
		errs = append(errs, vmErrs...)
	}
	if s := vmSpec.RunStrategy; s != nil && *s == kubevirtv1.RunStrategyHalted {
		errs = append(errs, field.NotSupported(tmplPath.Child("runStrategy"), *s, []kubevirtv1.RunStrategy{
			kubevirtv1.RunStrategyAlways, kubevirtv1.RunStrategyRerunOnFailure, kubevirtv1.RunStrategyManual, kubevirtv1.RunStrategyOnce}))
	}
	if vmSpec.Running != nil && !*vmSpec.Running && vmSpec.RunStrategy == nil {
		errs = append(errs, field.Invalid(tmplPath.Child("running"), false, "a machine's VM must run: set runStrategy: Always"))
	}
	if id := ptr.Deref(spec.ProviderID, ""); id != "" && name != "" && id != vm.ProviderID(name) {
		errs = append(errs, field.Invalid(path.Child("providerID"), id, fmt.Sprintf("the provider ID of KubevirtMachine %s is %s; leave it empty, the provider sets it", name, vm.ProviderID(name))))
	}
	strategyPath := path.Child("virtualMachineBootstrapCheck", "checkStrategy")
	switch s := spec.BootstrapCheckSpec.CheckStrategy; s {
	case "", infrav1.BootstrapCheckNone, infrav1.BootstrapCheckSSH:
	case infrav1.BootstrapCheckGuestAgent:
		if gateOn != nil && !*gateOn {
			errs = append(errs, field.Forbidden(strategyPath, "checkStrategy guest-agent needs the "+clusterconfig.GuestAgentBootstrapCheck+
				" feature gate: add it to the KubeVirt object's spec.configuration.developerConfiguration.featureGates"))
		}
	default:
		errs = append(errs, field.NotSupported(strategyPath, s, []string{infrav1.BootstrapCheckNone, infrav1.BootstrapCheckSSH, infrav1.BootstrapCheckGuestAgent}))
	}
	if ref := spec.InfraClusterSecretRef; ref != nil && ref.Name == "" {
		errs = append(errs, field.Required(path.Child("infraClusterSecretRef", "name"), "the name of the Secret holding the infrastructure cluster's kubeconfig"))
	}
	return errs
}

// guestAgentGate reads the gate when the spec asks for the guest-agent check on the
// local infrastructure cluster; nil when it does not matter or cannot be known here.
func guestAgentGate(ctx context.Context, g *gateReader, spec *infrav1.KubevirtMachineSpec) (*bool, error) {
	if spec.BootstrapCheckSpec.CheckStrategy != infrav1.BootstrapCheckGuestAgent || spec.InfraClusterSecretRef != nil {
		return nil, nil
	}
	on, err := g.enabled(ctx, clusterconfig.GuestAgentBootstrapCheck)
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("reading the KubeVirt object's feature gates: %w", err))
	}
	return &on, nil
}

type machineValidator struct{ gates *gateReader }

func (v *machineValidator) ValidateCreate(ctx context.Context, m *infrav1.KubevirtMachine) (admission.Warnings, error) {
	gate, err := guestAgentGate(ctx, v.gates, &m.Spec)
	if err != nil {
		return nil, err
	}
	return nil, invalid("KubevirtMachine", m.Name, ValidateMachineSpec(field.NewPath("spec"), m.Name, &m.Spec, gate))
}

// ValidateUpdate keeps a machine's VM template as it was created: a machine is one VM
// for its life; Cluster API rolls machines to change them.
func (v *machineValidator) ValidateUpdate(_ context.Context, old, m *infrav1.KubevirtMachine) (admission.Warnings, error) {
	var errs field.ErrorList
	spec := field.NewPath("spec")
	if !reflect.DeepEqual(old.Spec.VirtualMachineTemplate, m.Spec.VirtualMachineTemplate) {
		errs = append(errs, field.Forbidden(spec.Child("virtualMachineTemplate"), "is immutable: a machine keeps the VM it was made with; change the KubevirtMachineTemplate and let Cluster API roll the machines"))
	}
	if old.Spec.BootstrapCheckSpec != m.Spec.BootstrapCheckSpec {
		errs = append(errs, field.Forbidden(spec.Child("virtualMachineBootstrapCheck"), "is immutable"))
	}
	if o := ptr.Deref(old.Spec.ProviderID, ""); o != "" && o != ptr.Deref(m.Spec.ProviderID, "") {
		errs = append(errs, field.Forbidden(spec.Child("providerID"), "is immutable once set"))
	}
	if id := ptr.Deref(m.Spec.ProviderID, ""); id != "" && id != vm.ProviderID(m.Name) {
		errs = append(errs, field.Invalid(spec.Child("providerID"), id, "the provider ID of KubevirtMachine "+m.Name+" is "+vm.ProviderID(m.Name)))
	}
	return nil, invalid("KubevirtMachine", m.Name, errs)
}

func (v *machineValidator) ValidateDelete(context.Context, *infrav1.KubevirtMachine) (admission.Warnings, error) {
	return nil, nil
}

type machineTemplateValidator struct{ gates *gateReader }

func (v *machineTemplateValidator) ValidateCreate(ctx context.Context, t *infrav1.KubevirtMachineTemplate) (admission.Warnings, error) {
	gate, err := guestAgentGate(ctx, v.gates, &t.Spec.Template.Spec)
	if err != nil {
		return nil, err
	}
	return nil, invalid("KubevirtMachineTemplate", t.Name, ValidateMachineSpec(field.NewPath("spec", "template", "spec"), "", &t.Spec.Template.Spec, gate))
}

// ValidateUpdate keeps the template's spec as it was (as CAPK does): machines made from
// it must all look alike; a new template makes Cluster API roll them.
func (v *machineTemplateValidator) ValidateUpdate(_ context.Context, old, t *infrav1.KubevirtMachineTemplate) (admission.Warnings, error) {
	if reflect.DeepEqual(old.Spec, t.Spec) {
		return nil, nil
	}
	return nil, invalid("KubevirtMachineTemplate", t.Name, field.ErrorList{field.Forbidden(field.NewPath("spec"),
		"KubevirtMachineTemplateSpec is immutable: create a new KubevirtMachineTemplate and point the MachineDeployment or KubeadmControlPlane at it")})
}

func (v *machineTemplateValidator) ValidateDelete(context.Context, *infrav1.KubevirtMachineTemplate) (admission.Warnings, error) {
	return nil, nil
}

type clusterValidator struct{}

func validateCluster(c *infrav1.KubevirtCluster) field.ErrorList {
	var errs field.ErrorList
	ep := c.Spec.ControlPlaneEndpoint
	epPath := field.NewPath("spec", "controlPlaneEndpoint")
	if ep.Host != "" && (ep.Port < 1 || ep.Port > 65535) {
		errs = append(errs, field.Invalid(epPath.Child("port"), ep.Port, "must be between 1 and 65535 when host is set"))
	}
	if ep.Host == "" && ep.Port != 0 {
		errs = append(errs, field.Required(epPath.Child("host"), "set host with port, or neither (the provider fills both from the control-plane Service)"))
	}
	if strings.ContainsAny(ep.Host, " /") {
		errs = append(errs, field.Invalid(epPath.Child("host"), ep.Host, "must be a host name or an IP address"))
	}
	if ref := c.Spec.InfraClusterSecretRef; ref != nil && ref.Name == "" {
		errs = append(errs, field.Required(field.NewPath("spec", "infraClusterSecretRef", "name"), "the name of the Secret holding the infrastructure cluster's kubeconfig"))
	}
	return errs
}

func (v *clusterValidator) ValidateCreate(_ context.Context, c *infrav1.KubevirtCluster) (admission.Warnings, error) {
	return nil, invalid("KubevirtCluster", c.Name, validateCluster(c))
}

// ValidateUpdate keeps the control-plane endpoint once set: the nested cluster's
// certificates and kubeconfigs name it.
func (v *clusterValidator) ValidateUpdate(_ context.Context, old, c *infrav1.KubevirtCluster) (admission.Warnings, error) {
	errs := validateCluster(c)
	if !old.Spec.ControlPlaneEndpoint.IsZero() && old.Spec.ControlPlaneEndpoint != c.Spec.ControlPlaneEndpoint {
		errs = append(errs, field.Forbidden(field.NewPath("spec", "controlPlaneEndpoint"), "is immutable once set: the nested cluster's certificates and kubeconfigs name it"))
	}
	return nil, invalid("KubevirtCluster", c.Name, errs)
}

func (v *clusterValidator) ValidateDelete(context.Context, *infrav1.KubevirtCluster) (admission.Warnings, error) {
	return nil, nil
}

// invalid is nil without errors, else the API server's 422 Invalid with a cause per field.
func invalid(kind, name string, errs field.ErrorList) error {
	if len(errs) == 0 {
		return nil
	}
	return apierrors.NewInvalid(infrav1.GroupVersion.WithKind(kind).GroupKind(), name, errs)
}
