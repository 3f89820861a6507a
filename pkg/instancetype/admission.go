package instancetype

import (
	"context"
	"errors"
	"fmt"
	"runtime"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/defaults"
	"github.com/hypernest/hypernest/api/core/v1/validation"
	itv1 "github.com/hypernest/hypernest/api/instancetype/v1beta1"
)

// Expander is virt-api's validation.TemplateExpander for VMs (and pools' VM templates)
// in namespace: it looks the instance type and preference up (a VM's own pinned
// revisions first, when status is given), refuses conflicts and unmet requirements,
// and returns the template as the VMI will be built.
func (f Finder) Expander(ctx context.Context, namespace string, status *v1.VirtualMachineStatus) validation.TemplateExpander {
	return func(path *field.Path, vmSpec *v1.VirtualMachineSpec) (*v1.VirtualMachineInstanceSpec, []string, field.ErrorList) {
		vm := &v1.VirtualMachine{ObjectMeta: metav1.ObjectMeta{Namespace: namespace}, Spec: *vmSpec}
		if status != nil {
			vm.Status = *status
		}
		var warnings []string
		var errs field.ErrorList
		it, err := f.Instancetype(ctx, vm)
		if err != nil {
			w, e := lookupProblem(path.Child("instancetype"), err)
			warnings, errs = append(warnings, w...), append(errs, e...)
		}
		pref, err := f.Preference(ctx, vm)
		if err != nil {
			w, e := lookupProblem(path.Child("preference"), err)
			warnings, errs = append(warnings, w...), append(errs, e...)
		}
		if len(errs) > 0 || len(warnings) > 0 {
			return nil, warnings, errs
		}
		templatePath := path.Child("template", "spec")
		if it != nil {
			if errs := checkSpread(it, pref); len(errs) > 0 {
				return nil, nil, errs
			}
		}
		spec := vmSpec.Template.Spec.DeepCopy()
		meta := vmSpec.Template.ObjectMeta.DeepCopy()
		if conflicts := Apply(templatePath, it, pref, spec, meta); len(conflicts) > 0 {
			return nil, nil, conflicts.FieldErrors()
		}
		if pref != nil && pref.Requirements != nil {
			defaulted := spec.DeepCopy()
			defaults.SetVirtualMachineInstanceSpecDefaults(defaulted)
			if errs := checkRequirements(path, it, pref, spec, defaulted); len(errs) > 0 {
				return nil, nil, errs
			}
		}
		return spec, nil, nil
	}
}

// lookupProblem: a missing instance type or preference is a warning (KubeVirt accepts
// the VM, so manifests may be applied in any order; the VM starts once it exists); any
// other failure refuses the VM.
func lookupProblem(path *field.Path, err error) ([]string, field.ErrorList) {
	if apierrors.IsNotFound(err) {
		return []string{fmt.Sprintf("%s: %v: the VM will not start until it exists", path, err)}, nil
	}
	if apierrors.IsForbidden(err) || apierrors.IsUnauthorized(err) {
		return nil, field.ErrorList{field.InternalError(path, fmt.Errorf("virt-api cannot read it: %w (check virt-api's ClusterRole)", err))}
	}
	var kindErr *KindError
	if errors.As(err, &kindErr) {
		return nil, field.ErrorList{field.Invalid(path.Child("kind"), kindErr.Kind, err.Error())}
	}
	return nil, field.ErrorList{field.InternalError(path, err)}
}

// checkSpread refuses vCPU counts the spread topology cannot lay out (KubeVirt's check
// and messages).
func checkSpread(it *itv1.VirtualMachineInstancetypeSpec, pref *itv1.VirtualMachinePreferenceSpec) field.ErrorList {
	if PreferredTopology(pref) != itv1.Spread {
		return nil
	}
	path := field.NewPath("instancetype", "spec", "cpu", "guest")
	guest := it.CPU.Guest
	ratio, across := SpreadOptions(pref)
	switch across {
	case itv1.SpreadAcrossSocketsCoresThreads:
		if guest%2 != 0 || (guest/2)%ratio != 0 {
			return field.ErrorList{field.Invalid(path, guest, fmt.Sprintf("%d vCPUs provided by the instance type are not divisible by the number of threads per core %d and Spec.PreferSpreadSocketToCoreRatio or Spec.CPU.PreferSpreadOptions.Ratio of %d", guest, 2, ratio))}
		}
	case itv1.SpreadAcrossCoresThreads:
		if guest%ratio != 0 {
			return field.ErrorList{field.Invalid(path, guest, fmt.Sprintf("%d vCPUs provided by the instance type are not divisible by the number of threads per core %d", guest, ratio))}
		}
	default:
		if guest%ratio != 0 {
			return field.ErrorList{field.Invalid(path, guest, fmt.Sprintf("%d vCPUs provided by the instance type are not divisible by the Spec.PreferSpreadSocketToCoreRatio or Spec.CPU.PreferSpreadOptions.Ratio of %d provided by the preference", guest, ratio))}
		}
	}
	return nil
}

// checkRequirements checks a preference's requirements against what the VM gets, in
// KubeVirt's order (CPU, memory, architecture), first failure only, with its messages.
// expanded is the template with the instance type and preference applied; defaulted is
// the same completed with the defaults.
func checkRequirements(path *field.Path, it *itv1.VirtualMachineInstancetypeSpec, pref *itv1.VirtualMachinePreferenceSpec, expanded, defaulted *v1.VirtualMachineInstanceSpec) field.ErrorList {
	req := pref.Requirements
	fail := func(p *field.Path, format string, args ...any) field.ErrorList {
		return field.ErrorList{field.Forbidden(p, "failure checking preference requirements: "+fmt.Sprintf(format, args...))}
	}
	domainPath := path.Child("template", "spec", "domain")
	if req.CPU != nil {
		want := req.CPU.Guest
		switch {
		case it != nil:
			if it.CPU.Guest < want {
				return fail(path.Child("instancetype"), "insufficient CPU resources of %d vCPU provided by instance type, preference requires %d vCPU", it.CPU.Guest, want)
			}
		case expanded.Domain.CPU == nil:
			return fail(domainPath.Child("cpu"), "no CPU resources provided by VirtualMachine, preference requires %d vCPU", want)
		default:
			cpu := defaulted.Domain.CPU
			var got uint32
			var as string
			var at *field.Path
			switch PreferredTopology(pref) {
			case itv1.Sockets:
				got, as, at = cpu.Sockets, "sockets", domainPath.Child("cpu", "sockets")
			case itv1.Cores:
				got, as, at = cpu.Cores, "cores", domainPath.Child("cpu", "cores")
			case itv1.Threads:
				got, as, at = cpu.Threads, "threads", domainPath.Child("cpu", "threads")
			case itv1.Spread:
				_, across := SpreadOptions(pref)
				as, at = string(across), domainPath.Child("cpu")
				switch across {
				case itv1.SpreadAcrossCoresThreads:
					got = cpu.Cores * cpu.Threads
				case itv1.SpreadAcrossSocketsCoresThreads:
					got = cpu.Sockets * cpu.Cores * cpu.Threads
				default:
					got = cpu.Sockets * cpu.Cores
				}
			default:
				got, as, at = cpu.Sockets*cpu.Cores*cpu.Threads, "cores, sockets and threads", domainPath.Child("cpu")
			}
			if got < want {
				return fail(at, "insufficient CPU resources of %d vCPU provided by VirtualMachine, preference requires %d vCPU provided as %s", got, want, as)
			}
		}
	}
	if req.Memory != nil {
		want := req.Memory.Guest
		got := defaulted.Domain.Memory.Guest
		if got == nil && it != nil {
			got = &it.Memory.Guest
		}
		if got == nil || got.Cmp(want) < 0 {
			gotStr := "0Mi"
			if got != nil {
				gotStr = got.String()
			}
			if it != nil {
				return fail(path.Child("instancetype"), "insufficient Memory resources of %s provided by instance type, preference requires %s", gotStr, want.String())
			}
			return fail(domainPath.Child("memory"), "insufficient Memory resources of %s provided by VirtualMachine, preference requires %s", gotStr, want.String())
		}
	}
	if req.Architecture != nil {
		arch := defaulted.Architecture
		if arch == "" {
			arch = runtime.GOARCH // the cluster's default architecture is the control plane's
		}
		if arch != *req.Architecture {
			return fail(path.Child("template", "spec", "architecture"), "preference requires architecture %s but %s is being requested", *req.Architecture, arch)
		}
	}
	return nil
}
