// Package clusterconfig is the cluster configuration every component (and the Cluster API
// provider) reads live from the KubeVirt object (spec.configuration), so a change applies
// to the next VMI without restarting anything. Components keep a default from their flags
// for installations without a KubeVirt object (installed straight from the install
// package).
package clusterconfig

import (
	"context"
	"slices"

	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// Config is what the components take from the KubeVirt object.
type Config struct {
	// UseEmulation: guests run under QEMU's TCG, launcher pods ask for no /dev/kvm.
	UseEmulation bool
	// FeatureGates are the enabled feature gates.
	FeatureGates []string
	// DefaultNetworkInterface is the binding of a pod network interface that names none
	// (spec.configuration.network.defaultNetworkInterface): bridge or masquerade; empty
	// means Hypernest's default, masquerade.
	DefaultNetworkInterface string
	// ForbidBridgeOnPodNetwork: spec.configuration.network.permitBridgeInterfaceOnPodNetwork
	// is false (KubeVirt's default, and this zero value, permit it).
	ForbidBridgeOnPodNetwork bool
	// EvictionStrategy is the cluster's default eviction strategy of VMIs
	// (spec.configuration.evictionStrategy); nil, KubeVirt's default, acts as None.
	EvictionStrategy *v1.EvictionStrategy
	// Migrations is spec.configuration.migrations; nil when the object has none.
	Migrations *v1.MigrationConfiguration
}

// KubeVirt's defaults of the limits on parallel migrations (pkg/virt-config's
// ParallelMigrationsPerClusterDefault and ParallelOutboundMigrationsPerNodeDefault).
const (
	defaultParallelMigrationsPerCluster      = 5
	defaultParallelOutboundMigrationsPerNode = 2
)

// MigrationLimits are the most migrations that may have a target pod at once,
// cluster-wide and leaving one node: the KubeVirt object's, else KubeVirt's defaults.
func (c Config) MigrationLimits() (perCluster, outboundPerNode int) {
	perCluster, outboundPerNode = defaultParallelMigrationsPerCluster, defaultParallelOutboundMigrationsPerNode
	if m := c.Migrations; m != nil {
		if m.ParallelMigrationsPerCluster != nil {
			perCluster = int(*m.ParallelMigrationsPerCluster)
		}
		if m.ParallelOutboundMigrationsPerNode != nil {
			outboundPerNode = int(*m.ParallelOutboundMigrationsPerNode)
		}
	}
	return perCluster, outboundPerNode
}

// KubeVirt's defaults of a live migration's timeouts (pkg/virt-config's
// MigrationCompletionTimeoutPerGiB and MigrationProgressTimeout), in seconds.
const (
	defaultCompletionTimeoutPerGiB = 150
	defaultProgressTimeout         = 150
)

// MigrationSettings are what one live migration runs with.
type MigrationSettings struct {
	// BandwidthMiBPerSecond caps the transfer; 0 is no cap (KubeVirt's default).
	BandwidthMiBPerSecond uint64
	// CompletionTimeoutPerGiB and ProgressTimeout are in seconds.
	CompletionTimeoutPerGiB int64
	ProgressTimeout         int64
	// AllowAutoConverge lets QEMU throttle the guest's vCPUs (off by default, as KubeVirt).
	AllowAutoConverge bool
}

// Migration is the KubeVirt object's migration settings, KubeVirt's defaults for the
// ones it does not set.
func (c Config) Migration() MigrationSettings { return SettingsOf(c.Migrations) }

// MigrationConfiguration is the KubeVirt object's migrations section, a copy, with
// KubeVirt's defaults filled in for what a migration reads: what virt-controller hands a
// migration when no MigrationPolicy applies (status.migrationState.migrationConfiguration).
func (c Config) MigrationConfiguration() *v1.MigrationConfiguration {
	m := &v1.MigrationConfiguration{}
	if c.Migrations != nil {
		m = c.Migrations.DeepCopy()
	}
	perCluster, outbound := c.MigrationLimits()
	m.ParallelMigrationsPerCluster = ptr.To(uint32(perCluster))
	m.ParallelOutboundMigrationsPerNode = ptr.To(uint32(outbound))
	if m.BandwidthPerMigration == nil {
		m.BandwidthPerMigration = ptr.To(resource.MustParse("0"))
	}
	if m.CompletionTimeoutPerGiB == nil {
		m.CompletionTimeoutPerGiB = ptr.To[int64](defaultCompletionTimeoutPerGiB)
	}
	if m.ProgressTimeout == nil {
		m.ProgressTimeout = ptr.To[int64](defaultProgressTimeout)
	}
	if m.AllowAutoConverge == nil {
		m.AllowAutoConverge = ptr.To(false)
	}
	return m
}

// SettingsOf reads a migrations section (the KubeVirt object's, or the one a migration
// was handed), KubeVirt's defaults for what it does not set.
func SettingsOf(m *v1.MigrationConfiguration) MigrationSettings {
	s := MigrationSettings{CompletionTimeoutPerGiB: defaultCompletionTimeoutPerGiB, ProgressTimeout: defaultProgressTimeout}
	if m == nil {
		return s
	}
	if m.BandwidthPerMigration != nil && m.BandwidthPerMigration.Sign() > 0 {
		// A quantity of bytes per second ("64Mi"); libvirt takes whole MiB/s, so a cap
		// below 1 MiB/s is 1 MiB/s rather than none.
		s.BandwidthMiBPerSecond = max(uint64(m.BandwidthPerMigration.Value())>>20, 1)
	}
	if m.CompletionTimeoutPerGiB != nil {
		s.CompletionTimeoutPerGiB = *m.CompletionTimeoutPerGiB
	}
	if m.ProgressTimeout != nil {
		s.ProgressTimeout = *m.ProgressTimeout
	}
	if m.AllowAutoConverge != nil {
		s.AllowAutoConverge = *m.AllowAutoConverge
	}
	return s
}

// GateEnabled reports whether a feature gate is on.
func (c Config) GateEnabled(gate string) bool { return slices.Contains(c.FeatureGates, gate) }

// Source reads the configuration of the KubeVirt object in Namespace.
type Source struct {
	// Reader should be a cached client watching KubeVirt objects in Namespace.
	Reader    client.Reader
	Namespace string
	// Default applies when there is no KubeVirt object (or it cannot be read).
	Default Config
}

// Get returns the current configuration.
func (s *Source) Get(ctx context.Context) Config {
	list := &v1.KubeVirtList{}
	if err := s.Reader.List(ctx, list, client.InNamespace(s.Namespace)); err != nil || len(list.Items) == 0 {
		return s.Default
	}
	return FromKubeVirt(&list.Items[0])
}

// FromKubeVirt is the configuration a KubeVirt object asks for.
func FromKubeVirt(kv *v1.KubeVirt) Config {
	var c Config
	if dc := kv.Spec.Configuration.DeveloperConfiguration; dc != nil {
		c.UseEmulation = dc.UseEmulation
		for _, g := range dc.FeatureGates {
			if !slices.Contains(dc.DisabledFeatureGates, g) {
				c.FeatureGates = append(c.FeatureGates, g)
			}
		}
	}
	c.EvictionStrategy = kv.Spec.Configuration.EvictionStrategy
	c.Migrations = kv.Spec.Configuration.MigrationConfiguration
	if nc := kv.Spec.Configuration.Network; nc != nil {
		c.DefaultNetworkInterface = nc.NetworkInterface
		c.ForbidBridgeOnPodNetwork = nc.PermitBridgeInterfaceOnPodNetwork != nil && !*nc.PermitBridgeInterfaceOnPodNetwork
	}
	return c
}
