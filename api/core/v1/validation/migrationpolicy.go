package validation

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	migrationsv1alpha1 "github.com/hypernest/hypernest/api/migrations/v1alpha1"
)

// ValidateMigrationPolicySpec checks a MigrationPolicy's spec at path (the CRD's schema
// requires selectors and bounds maxDowntimeMs): KubeVirt's checks, and a refusal, naming the field, of the settings Hypernest's live migration cannot
// honour yet (a policy stored but not honoured would let its author believe it applies).
func ValidateMigrationPolicySpec(path *field.Path, spec *migrationsv1alpha1.MigrationPolicySpec) field.ErrorList {
	var errs field.ErrorList
	if q := spec.BandwidthPerMigration; q != nil && q.Sign() < 0 {
		errs = append(errs, field.Invalid(path.Child("bandwidthPerMigration"), q.String(), "must not be negative (0 is no cap)"))
	}
	if v := spec.CompletionTimeoutPerGiB; v != nil && *v < 0 {
		errs = append(errs, field.Invalid(path.Child("completionTimeoutPerGiB"), *v, "must not be negative"))
	}
	const unsupported = "not supported by Hypernest yet: its migrations are pre-copy and end or are aborted; remove it"
	if spec.MaxDowntimeMs != nil {
		errs = append(errs, field.Forbidden(path.Child("maxDowntimeMs"), unsupported))
	}
	if spec.AllowPostCopy != nil && *spec.AllowPostCopy {
		errs = append(errs, field.Forbidden(path.Child("allowPostCopy"), unsupported+" or set it to false"))
	}
	if spec.AllowWorkloadDisruption != nil && *spec.AllowWorkloadDisruption {
		errs = append(errs, field.Forbidden(path.Child("allowWorkloadDisruption"), unsupported+" or set it to false"))
	}
	return errs
}
