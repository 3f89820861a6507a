package migration

import (
	"context"
	"strings"

	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	migrationsv1alpha1 "github.com/hypernest/hypernest/api/migrations/v1alpha1"
)

// migrationConfiguration is what vmi's migration runs with: the cluster's settings,
// overlaid with those of the MigrationPolicy that selects the VMI (its name, empty when
// none does). Chosen once, at hand-off, as in KubeVirt: a policy changed later applies to
// the next migration.
func (r *Reconciler) migrationConfiguration(ctx context.Context, vmi *v1.VirtualMachineInstance) (*v1.MigrationConfiguration, string, error) {
	config := r.Migrations(ctx)
	policies := &migrationsv1alpha1.MigrationPolicyList{}
	if err := r.List(ctx, policies); err != nil {
		return nil, "", err
	}
	if len(policies.Items) == 0 {
		return config, "", nil
	}
	ns := &k8sv1.Namespace{}
	if err := r.APIReader.Get(ctx, client.ObjectKey{Name: vmi.Namespace}, ns); err != nil {
		return nil, "", err
	}
	policy := matchPolicy(policies.Items, vmi.Labels, ns.Labels)
	if policy == nil {
		return config, "", nil
	}
	applyPolicy(config, &policy.Spec)
	return config, policy.Name, nil
}

// matchPolicy is KubeVirt's choice among the policies (its watch/migration
// migrationpolicy.go), quirks included so that the same policy applies as there: a
// policy without selectors matches nothing; every label of a selector must be on the VMI
// (or its namespace) with that value, except that a VMI without labels skips both checks;
// the policy matching the most labels wins, then the one matching more of the VMI's,
// then the first by name.
func matchPolicy(policies []migrationsv1alpha1.MigrationPolicy, vmiLabels, nsLabels map[string]string) *migrationsv1alpha1.MigrationPolicy {
	var best *migrationsv1alpha1.MigrationPolicy
	bestVMI, bestNS := -1, -1
	for i := range policies {
		p := &policies[i]
		if p.Spec.Selectors == nil {
			continue
		}
		vmiMatches, ok := countMatches(p.Spec.Selectors.VirtualMachineInstanceSelector, vmiLabels)
		if !ok {
			continue
		}
		nsMatches := 0
		if vmiLabels != nil {
			if nsMatches, ok = countMatches(p.Spec.Selectors.NamespaceSelector, nsLabels); !ok {
				continue
			}
		}
		switch total, bestTotal := vmiMatches+nsMatches, bestVMI+bestNS; {
		case best == nil, total > bestTotal,
			total == bestTotal && vmiMatches > bestVMI,
			total == bestTotal && vmiMatches == bestVMI && strings.Compare(p.Name, best.Name) < 0:
			best, bestVMI, bestNS = p, vmiMatches, nsMatches
		}
	}
	return best
}

// countMatches counts the selector's labels present with their values; ok is false when
// one is missing. A nil selector or nil labels match with a count of 0 (KubeVirt's).
func countMatches(selector migrationsv1alpha1.LabelSelector, labels map[string]string) (int, bool) {
	if selector == nil || labels == nil {
		return 0, true
	}
	for k, v := range selector {
		if have, ok := labels[k]; !ok || have != v {
			return 0, false
		}
	}
	return len(selector), true
}

// applyPolicy overlays the policy's settings on the cluster's config. A policy that
// allows post-copy without a word on workload disruption allows that too (KubeVirt's).
func applyPolicy(config *v1.MigrationConfiguration, p *migrationsv1alpha1.MigrationPolicySpec) {
	if p.AllowAutoConverge != nil {
		config.AllowAutoConverge = ptr.To(*p.AllowAutoConverge)
	}
	if p.BandwidthPerMigration != nil {
		config.BandwidthPerMigration = ptr.To(p.BandwidthPerMigration.DeepCopy())
	}
	if p.CompletionTimeoutPerGiB != nil {
		config.CompletionTimeoutPerGiB = ptr.To(*p.CompletionTimeoutPerGiB)
	}
	if p.MaxDowntimeMs != nil {
		config.MaxDowntimeMs = ptr.To(*p.MaxDowntimeMs)
	}
	if p.AllowPostCopy != nil {
		config.AllowPostCopy = ptr.To(*p.AllowPostCopy)
		if p.AllowWorkloadDisruption == nil {
			config.AllowWorkloadDisruption = ptr.To(*p.AllowPostCopy)
		}
	}
	if p.AllowWorkloadDisruption != nil {
		config.AllowWorkloadDisruption = ptr.To(*p.AllowWorkloadDisruption)
	}
}
