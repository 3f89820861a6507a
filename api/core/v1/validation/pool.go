package validation

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	poolv1 "github.com/hypernest/hypernest/api/pool/v1beta1"
)

// ValidateVirtualMachinePoolSpec checks a VM pool as KubeVirt does: a VM template
// Hypernest can run, a selector that selects the template's labels, a maxUnavailable
// that is a positive number or a percentage from 1% to 100%, and at most one scale-in
// and one update strategy. expand is as for ValidateVirtualMachineSpec.
func ValidateVirtualMachinePoolSpec(path *field.Path, spec *poolv1.VirtualMachinePoolSpec, expand TemplateExpander) (field.ErrorList, []string) {
	var errs field.ErrorList
	if spec.Replicas != nil && *spec.Replicas < 0 {
		errs = append(errs, field.Invalid(path.Child("replicas"), *spec.Replicas, "must be 0 or more"))
	}
	if spec.VirtualMachineTemplate == nil {
		return append(errs, field.Required(path.Child("virtualMachineTemplate"), "a pool needs the template of the VMs it runs")), nil
	}
	errs = append(errs, validateSelector(path.Child("selector"), spec.Selector,
		path.Child("virtualMachineTemplate", "metadata", "labels"), spec.VirtualMachineTemplate.ObjectMeta.Labels)...)
	vmErrs, warnings := ValidateVirtualMachineSpec(path.Child("virtualMachineTemplate", "spec"), &spec.VirtualMachineTemplate.Spec, expand)
	errs = append(errs, vmErrs...)
	if spec.MaxUnavailable != nil {
		errs = append(errs, validateMaxUnavailable(path.Child("maxUnavailable"), *spec.MaxUnavailable)...)
	}
	if s := spec.ScaleInStrategy; s != nil {
		errs = append(errs, atMostOneStrategy(path.Child("scaleInStrategy"), s.Unmanaged != nil, s.Opportunistic != nil, s.Proactive != nil)...)
	}
	if s := spec.UpdateStrategy; s != nil {
		errs = append(errs, atMostOneStrategy(path.Child("updateStrategy"), s.Unmanaged != nil, s.Opportunistic != nil, s.Proactive != nil)...)
	}
	if a := spec.Autohealing; a != nil && a.MinFailingToStartDuration != nil && a.MinFailingToStartDuration.Duration < 0 {
		errs = append(errs, field.Invalid(path.Child("autohealing", "minFailingToStartDuration"), a.MinFailingToStartDuration.Duration.String(), "must not be negative"))
	}
	return errs, warnings
}

func validateMaxUnavailable(path *field.Path, v intstr.IntOrString) field.ErrorList {
	if v.Type == intstr.Int {
		if v.IntValue() <= 0 {
			return field.ErrorList{field.Invalid(path, v.IntValue(), "must be greater than 0")}
		}
		return nil
	}
	if !strings.HasSuffix(v.StrVal, "%") {
		return field.ErrorList{field.Invalid(path, v.StrVal, "a percentage must end with %")}
	}
	pct, err := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	if err != nil || pct < 1 || pct > 100 {
		return field.ErrorList{field.Invalid(path, v.StrVal, "must be a percentage between 1% and 100%")}
	}
	return nil
}

func atMostOneStrategy(path *field.Path, unmanaged, opportunistic, proactive bool) field.ErrorList {
	var set []string
	for _, st := range []struct {
		name string
		on   bool
	}{{"unmanaged", unmanaged}, {"opportunistic", opportunistic}, {"proactive", proactive}} {
		if st.on {
			set = append(set, st.name)
		}
	}
	if len(set) > 1 {
		return field.ErrorList{field.Invalid(path, strings.Join(set, ", "), "set only one of unmanaged, opportunistic and proactive")}
	}
	return nil
}
