package migration

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	migrationsv1alpha1 "github.com/hypernest/hypernest/api/migrations/v1alpha1"
)

// KubeVirt's choice among policies, edge cases: the integration suite sees the winner
// handed to a migration.
func TestMatchPolicy(t *testing.T) {
	policy := func(name string, vmi, ns migrationsv1alpha1.LabelSelector) migrationsv1alpha1.MigrationPolicy {
		return migrationsv1alpha1.MigrationPolicy{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: migrationsv1alpha1.MigrationPolicySpec{Selectors: &migrationsv1alpha1.Selectors{VirtualMachineInstanceSelector: vmi, NamespaceSelector: ns}}}
	}
	noSelectors := migrationsv1alpha1.MigrationPolicy{ObjectMeta: metav1.ObjectMeta{Name: "a-none"}}
	vmiLabels := map[string]string{"app": "db", "tier": "gold"}
	nsLabels := map[string]string{"team": "red"}
	for _, c := range []struct {
		name     string
		policies []migrationsv1alpha1.MigrationPolicy
		vmi      map[string]string
		want     string
	}{
		{"a policy without selectors matches nothing", []migrationsv1alpha1.MigrationPolicy{noSelectors}, vmiLabels, ""},
		{"empty selectors match every VMI", []migrationsv1alpha1.MigrationPolicy{noSelectors, policy("all", nil, nil)}, vmiLabels, "all"},
		{"a missing label rules a policy out", []migrationsv1alpha1.MigrationPolicy{policy("web", map[string]string{"app": "web"}, nil)}, vmiLabels, ""},
		{"a missing namespace label rules a policy out", []migrationsv1alpha1.MigrationPolicy{policy("blue", nil, map[string]string{"team": "blue"})}, vmiLabels, ""},
		{"the most labels win", []migrationsv1alpha1.MigrationPolicy{
			policy("one", map[string]string{"app": "db"}, nil),
			policy("two", map[string]string{"app": "db"}, map[string]string{"team": "red"}),
		}, vmiLabels, "two"},
		{"on a tie, more of the VMI's labels win", []migrationsv1alpha1.MigrationPolicy{
			policy("a-namespace", map[string]string{"app": "db"}, map[string]string{"team": "red"}),
			policy("b-vmi", map[string]string{"app": "db", "tier": "gold"}, nil),
		}, vmiLabels, "b-vmi"},
		{"then the first name", []migrationsv1alpha1.MigrationPolicy{
			policy("b", map[string]string{"app": "db"}, nil),
			policy("a", map[string]string{"tier": "gold"}, nil),
		}, vmiLabels, "a"},
		// KubeVirt's quirk: a VMI without labels skips both selectors.
		{"a VMI without labels matches any selector", []migrationsv1alpha1.MigrationPolicy{
			policy("picky", map[string]string{"app": "db"}, map[string]string{"team": "blue"}),
		}, nil, "picky"},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := ""
			if p := matchPolicy(c.policies, c.vmi, nsLabels); p != nil {
				got = p.Name
			}
			if got != c.want {
				t.Errorf("matched %q, want %q", got, c.want)
			}
		})
	}
}
