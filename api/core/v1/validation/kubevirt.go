package validation

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/defaults"
)

// ValidateKubeVirtConfiguration checks a KubeVirt object's spec.configuration at path:
// today the network settings, refused where Hypernest cannot honour them.
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
	return errs
}
