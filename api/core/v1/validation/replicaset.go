package validation

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/defaults"
)

// ValidateVirtualMachineInstanceReplicaSetSpec checks a VMI replica set as KubeVirt does:
// a template Hypernest can run, and a non-empty selector that selects the template's
// labels (else the set would never count the VMIs it creates, and create them forever).
func ValidateVirtualMachineInstanceReplicaSetSpec(path *field.Path, spec *v1.VirtualMachineInstanceReplicaSetSpec) field.ErrorList {
	var errs field.ErrorList
	if spec.Replicas != nil && *spec.Replicas < 0 {
		errs = append(errs, field.Invalid(path.Child("replicas"), *spec.Replicas, "must be 0 or more"))
	}
	errs = append(errs, validateSelector(path, spec)...)
	if spec.Template == nil {
		return append(errs, field.Required(path.Child("template"), "a replica set needs the template of the VMIs it runs"))
	}
	// The template is checked as its VMIs will be: completed with the defaults first.
	template := spec.Template.Spec.DeepCopy()
	defaults.SetVirtualMachineInstanceSpecDefaults(template)
	return append(errs, ValidateVirtualMachineInstanceSpec(path.Child("template", "spec"), template)...)
}

func validateSelector(path *field.Path, spec *v1.VirtualMachineInstanceReplicaSetSpec) field.ErrorList {
	if spec.Selector == nil {
		return field.ErrorList{field.Required(path.Child("selector"), "a replica set needs a selector that matches spec.template.metadata.labels")}
	}
	errs := metav1validation.ValidateLabelSelector(spec.Selector, metav1validation.LabelSelectorValidationOptions{}, path.Child("selector"))
	selector, err := metav1.LabelSelectorAsSelector(spec.Selector)
	switch {
	case err != nil:
		// ValidateLabelSelector named the field.
	case selector.Empty():
		errs = append(errs, field.Invalid(path.Child("selector"), spec.Selector, "an empty selector would select every VMI in the namespace; select the template's labels"))
	case spec.Template != nil && !selector.Matches(labels.Set(spec.Template.ObjectMeta.Labels)):
		errs = append(errs, field.Invalid(path.Child("template", "metadata", "labels"), spec.Template.ObjectMeta.Labels,
			"the selector does not match the template's labels: the set would not count the VMIs it creates"))
	}
	return errs
}
