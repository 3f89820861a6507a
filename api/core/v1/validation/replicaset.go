package validation

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// ValidateVirtualMachineInstanceReplicaSetSpec checks a VMI replica set as KubeVirt does:
// a template Hypernest can run, and a non-empty selector that selects the template's
// labels (else the set would never count the VMIs it creates, and create them forever).
func ValidateVirtualMachineInstanceReplicaSetSpec(path *field.Path, spec *v1.VirtualMachineInstanceReplicaSetSpec) field.ErrorList {
	var errs field.ErrorList
	if spec.Replicas != nil && *spec.Replicas < 0 {
		errs = append(errs, field.Invalid(path.Child("replicas"), *spec.Replicas, "must be 0 or more"))
	}
	if spec.Template == nil {
		return append(errs, field.Required(path.Child("template"), "a replica set needs the template of the VMIs it runs"))
	}
	errs = append(errs, validateSelector(path.Child("selector"), spec.Selector, path.Child("template", "metadata", "labels"), spec.Template.ObjectMeta.Labels)...)
	return append(errs, validateTemplateSpec(path.Child("template", "spec"), &spec.Template.Spec)...)
}

// validateSelector checks a set's selector: present, valid, not empty, and selecting
// the labels of the template it creates from (else the set would never count what it
// creates, and create forever).
func validateSelector(path *field.Path, sel *metav1.LabelSelector, labelsPath *field.Path, templateLabels map[string]string) field.ErrorList {
	if sel == nil {
		return field.ErrorList{field.Required(path, "a selector that matches "+labelsPath.String()+" is required")}
	}
	errs := metav1validation.ValidateLabelSelector(sel, metav1validation.LabelSelectorValidationOptions{}, path)
	selector, err := metav1.LabelSelectorAsSelector(sel)
	switch {
	case err != nil:
		// ValidateLabelSelector named the field.
	case selector.Empty():
		errs = append(errs, field.Invalid(path, sel, "an empty selector would select everything in the namespace; select the template's labels"))
	case !selector.Matches(labels.Set(templateLabels)):
		errs = append(errs, field.Invalid(labelsPath, templateLabels,
			"the selector does not match the template's labels: the set would not count what it creates"))
	}
	return errs
}
