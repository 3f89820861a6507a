package validation

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/defaults"
)

// TemplateExpander returns the VMI template of the VM spec at path with its instance
// type and preference applied (virt-api's looks them up), conflicts and unmet
// requirements as errors, and warnings. A nil template with no errors means they cannot
// be looked up yet (the VM is accepted; it starts once they exist).
type TemplateExpander func(path *field.Path, vmSpec *v1.VirtualMachineSpec) (*v1.VirtualMachineInstanceSpec, []string, field.ErrorList)

// ValidateVirtualMachineSpec checks a VM spec found at path (spec for a VM, and the
// path of an embedded VM spec elsewhere, such as a pool's
// spec.virtualMachineTemplate.spec); every error names its field. A VM that names an
// instance type or a preference is checked with its template expanded by expand; where
// there is nothing to look them up with (expand is nil), they are refused.
func ValidateVirtualMachineSpec(path *field.Path, vmSpec *v1.VirtualMachineSpec, expand TemplateExpander) (field.ErrorList, []string) {
	var errs field.ErrorList
	var warnings []string
	if vmSpec.Running != nil && vmSpec.RunStrategy != nil {
		errs = append(errs, field.Invalid(path.Child("running"), *vmSpec.Running, "spec.running and spec.runStrategy are mutually exclusive; set only spec.runStrategy"))
	}
	if vmSpec.RunStrategy != nil && *vmSpec.RunStrategy == v1.RunStrategyWaitAsReceiver {
		errs = append(errs, field.Forbidden(path.Child("runStrategy"), "WaitAsReceiver (decentralized live migration) is not supported by Hypernest yet"))
	}
	if len(vmSpec.DataVolumeTemplates) > 0 {
		errs = append(errs, field.Forbidden(path.Child("dataVolumeTemplates"), "DataVolumes (CDI) are not supported by Hypernest yet"))
	}
	usesInstancetype := vmSpec.Instancetype != nil || vmSpec.Preference != nil
	if usesInstancetype && expand == nil {
		if vmSpec.Instancetype != nil {
			errs = append(errs, field.Forbidden(path.Child("instancetype"), "instance types are not supported here: give the VM template its own size"))
		}
		if vmSpec.Preference != nil {
			errs = append(errs, field.Forbidden(path.Child("preference"), "preferences are not supported here: set the VM template's fields instead"))
		}
	}
	errs = append(errs, validateMatcher(path.Child("instancetype"), "InstancetypeMatcher", vmSpec.Instancetype)...)
	errs = append(errs, validateMatcher(path.Child("preference"), "PreferenceMatcher", (*v1.InstancetypeMatcher)(vmSpec.Preference))...)
	// A matcher still to be inferred from a volume (a pool's VM template: its VMs infer
	// theirs when they are made) cannot be expanded yet.
	if (vmSpec.Instancetype != nil && vmSpec.Instancetype.InferFromVolume != "") ||
		(vmSpec.Preference != nil && vmSpec.Preference.InferFromVolume != "") {
		usesInstancetype = false
	}
	if vmSpec.Template == nil {
		return append(errs, field.Required(path.Child("template"), "a VM needs the template of the VMI it runs")), warnings
	}
	template := &vmSpec.Template.Spec
	if usesInstancetype && expand != nil && len(errs) == 0 {
		expanded, w, expandErrs := expand(path, vmSpec)
		warnings = append(warnings, w...)
		if len(expandErrs) > 0 || expanded == nil {
			return append(errs, expandErrs...), warnings
		}
		template = expanded
	}
	return append(errs, validateTemplateSpec(path.Child("template", "spec"), template)...), warnings
}

// validateMatcher checks an instance type or preference matcher as KubeVirt does (same
// messages): a name, or a volume to infer it from, not both.
func validateMatcher(path *field.Path, kind string, m *v1.InstancetypeMatcher) field.ErrorList {
	if m == nil {
		return nil
	}
	var errs field.ErrorList
	if m.Name == "" && m.InferFromVolume == "" {
		errs = append(errs, field.Required(path, fmt.Sprintf("Either Name or InferFromVolume should be provided within the %s", kind)))
	}
	if m.InferFromVolume != "" {
		if m.Name != "" {
			errs = append(errs, field.Forbidden(path.Child("name"), "Name already set, should be cleared before setting inferFromVolume"))
		}
		if m.Kind != "" {
			errs = append(errs, field.Forbidden(path.Child("kind"), "Kind already set, should be cleared before setting inferFromVolume"))
		}
	}
	if p := m.InferFromVolumeFailurePolicy; p != nil && *p != v1.IgnoreInferFromVolumeFailure && *p != v1.RejectInferFromVolumeFailure {
		errs = append(errs, field.Invalid(path.Child("inferFromVolumeFailurePolicy"), *p, fmt.Sprintf("Invalid value '%s' for InferFromVolumeFailurePolicy", *p)))
	}
	return errs
}

// validateTemplateSpec checks a VMI template (of a VM or a replica set) as the VMIs made
// from it will be checked: completed with the defaults first, so a template is refused
// exactly when its VMIs would be.
func validateTemplateSpec(path *field.Path, template *v1.VirtualMachineInstanceSpec) field.ErrorList {
	defaulted := template.DeepCopy()
	defaults.SetVirtualMachineInstanceSpecDefaults(defaulted)
	return ValidateVirtualMachineInstanceSpec(path, defaulted)
}
