package validation

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/defaults"
)

// ValidateVirtualMachineSpec checks a VM spec found at path (spec for a VM, and the
// path of an embedded VM spec elsewhere, such as a Cluster API KubevirtMachine's
// spec.virtualMachineTemplate.spec); every error names its field.
func ValidateVirtualMachineSpec(path *field.Path, vmSpec *v1.VirtualMachineSpec) field.ErrorList {
	var errs field.ErrorList
	if vmSpec.Running != nil && vmSpec.RunStrategy != nil {
		errs = append(errs, field.Invalid(path.Child("running"), *vmSpec.Running, "spec.running and spec.runStrategy are mutually exclusive; set only spec.runStrategy"))
	}
	if vmSpec.RunStrategy != nil && *vmSpec.RunStrategy == v1.RunStrategyWaitAsReceiver {
		errs = append(errs, field.Forbidden(path.Child("runStrategy"), "WaitAsReceiver (decentralized live migration) is not supported by Hypernest yet"))
	}
	if len(vmSpec.DataVolumeTemplates) > 0 {
		errs = append(errs, field.Forbidden(path.Child("dataVolumeTemplates"), "DataVolumes (CDI) are not supported by Hypernest yet"))
	}
	if vmSpec.Instancetype != nil {
		errs = append(errs, field.Forbidden(path.Child("instancetype"), "instance types are not supported by Hypernest yet"))
	}
	if vmSpec.Preference != nil {
		errs = append(errs, field.Forbidden(path.Child("preference"), "preferences are not supported by Hypernest yet"))
	}
	if vmSpec.Template == nil {
		return append(errs, field.Required(path.Child("template"), "a VM needs the template of the VMI it runs"))
	}
	return append(errs, validateTemplateSpec(path.Child("template", "spec"), &vmSpec.Template.Spec)...)
}

// validateTemplateSpec checks a VMI template (of a VM or a replica set) as the VMIs made
// from it will be checked: completed with the defaults first, so a template is refused
// exactly when its VMIs would be.
func validateTemplateSpec(path *field.Path, template *v1.VirtualMachineInstanceSpec) field.ErrorList {
	defaulted := template.DeepCopy()
	defaults.SetVirtualMachineInstanceSpecDefaults(defaulted)
	return ValidateVirtualMachineInstanceSpec(path, defaulted)
}
