package validation

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/defaults"
)

// ValidateKubeVirtConfiguration checks a KubeVirt object's spec.configuration at path:
// today the network and migration settings, refused where Hypernest cannot honour them.
func ValidateKubeVirtConfiguration(path *field.Path, c *v1.KubeVirtConfiguration) field.ErrorList {
	var errs field.ErrorList
	if nc := c.Network; nc != nil {
		p := path.Child("network")
		switch nc.NetworkInterface {
		case "", defaults.BindingBridge, defaults.BindingMasquerade:
		default:
			errs = append(errs, field.NotSupported(p.Child("defaultNetworkInterface"), nc.NetworkInterface,
				[]string{defaults.BindingBridge, defaults.BindingMasquerade}))
		}
		if nc.NetworkInterface == defaults.BindingBridge && nc.PermitBridgeInterfaceOnPodNetwork != nil && !*nc.PermitBridgeInterfaceOnPodNetwork {
			errs = append(errs, field.Invalid(p.Child("defaultNetworkInterface"), nc.NetworkInterface,
				"the default binding cannot be bridge while permitBridgeInterfaceOnPodNetwork is false"))
		}
		if len(nc.Binding) > 0 {
			errs = append(errs, field.Forbidden(p.Child("binding"), "network binding plugins are not supported by Hypernest; remove spec.configuration.network.binding"))
		}
	}
	errs = append(errs, validateMigrationConfiguration(path.Child("migrations"), c.MigrationConfiguration)...)
	return errs
}

// validateMigrationConfiguration refuses the migration settings Hypernest's live
// migration does not read yet (a setting stored but never read would let the
// administrator believe it applies), and values no migration could run with.
func validateMigrationConfiguration(path *field.Path, mc *v1.MigrationConfiguration) field.ErrorList {
	if mc == nil {
		return nil
	}
	var errs field.ErrorList
	if q := mc.BandwidthPerMigration; q != nil && q.Sign() < 0 {
		errs = append(errs, field.Invalid(path.Child("bandwidthPerMigration"), q.String(), "must not be negative (0 is no cap)"))
	}
	for _, f := range []struct {
		name string
		v    *int64
	}{{"completionTimeoutPerGiB", mc.CompletionTimeoutPerGiB}, {"progressTimeout", mc.ProgressTimeout}} {
		if f.v != nil && *f.v < 0 {
			errs = append(errs, field.Invalid(path.Child(f.name), *f.v, "must not be negative (seconds; 0 is no limit)"))
		}
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"maxDowntimeMs", mc.MaxDowntimeMs != nil},
		{"utilityVolumesTimeout", mc.UtilityVolumesTimeout != nil},
		{"unsafeMigrationOverride", mc.UnsafeMigrationOverride != nil},
		{"allowPostCopy", mc.AllowPostCopy != nil},
		{"allowWorkloadDisruption", mc.AllowWorkloadDisruption != nil},
		{"disableTLS", mc.DisableTLS != nil},
		{"network", mc.Network != nil},
		{"matchSELinuxLevelOnMigration", mc.MatchSELinuxLevelOnMigration != nil},
		{"nodeDrainTaintKey", mc.NodeDrainTaintKey != nil},
	} {
		if f.set {
			errs = append(errs, field.Forbidden(path.Child(f.name),
				"not supported by Hypernest yet: nothing would read it; remove it "+
					"(parallelMigrationsPerCluster, parallelOutboundMigrationsPerNode, bandwidthPerMigration, "+
					"completionTimeoutPerGiB, progressTimeout and allowAutoConverge are supported)"))
		}
	}
	return errs
}
