package install

import (
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// virt-operator's own rights: no Secret outside its namespace, bind only for the roles
// an installation makes or binds, escalate only for the roles it writes.
func TestOperatorRBACIsLeastPrivilege(t *testing.T) {
	cfg := Config{Namespace: "kubevirt", ImageRegistry: "localhost/hypernest", ImageTag: "devel"}
	var clusterRole *rbacv1.ClusterRole
	var role *rbacv1.Role
	for _, o := range OperatorObjects(cfg) {
		switch r := o.(type) {
		case *rbacv1.ClusterRole:
			clusterRole = r
		case *rbacv1.Role:
			role = r
		}
	}
	if clusterRole == nil || role == nil {
		t.Fatal("want the operator's ClusterRole and its namespace's Role")
	}
	if role.Namespace != cfg.Namespace {
		t.Errorf("the Role is in %q, want the operator's namespace %q", role.Namespace, cfg.Namespace)
	}
	for _, rule := range clusterRole.Rules {
		if slices.Contains(rule.Resources, "secrets") || slices.Contains(rule.Resources, "*") || slices.Contains(rule.Verbs, "*") {
			t.Errorf("the ClusterRole grants %v on %v cluster-wide", rule.Verbs, rule.Resources)
		}
		if slices.Contains(rule.Verbs, "bind") && len(rule.ResourceNames) == 0 {
			t.Errorf("bind on %v for any role name", rule.Resources)
		}
		if slices.Contains(rule.Verbs, "escalate") {
			if !slices.Equal(rule.ResourceNames, WrittenRoleNames(cfg)) {
				t.Errorf("escalate on %v for %v, want only the roles it writes %v", rule.Resources, rule.ResourceNames, WrittenRoleNames(cfg))
			}
			for _, name := range rule.ResourceNames {
				if !strings.Contains(name, "kubevirt.io:") {
					t.Errorf("escalate on %q, a role Hypernest does not name", name)
				}
			}
		}
	}

	// Every role the installation makes, or binds, is one the operator may bind.
	allowed := ShippedRoleNames(cfg)
	for _, obj := range Objects(cfg, nil) {
		var name string
		switch o := obj.(type) {
		case *rbacv1.ClusterRole, *rbacv1.Role:
			name = o.GetName()
		case *rbacv1.ClusterRoleBinding:
			name = o.RoleRef.Name
		case *rbacv1.RoleBinding:
			name = o.RoleRef.Name
		default:
			continue
		}
		if !slices.Contains(allowed, name) {
			t.Errorf("%s %s: role %q is not in the operator's bind names", obj.GetObjectKind().GroupVersionKind().Kind, obj.GetName(), name)
		}
	}
	if slices.Contains(allowed, "cluster-admin") || slices.Contains(allowed, "admin") {
		t.Errorf("the operator may bind a built-in admin role: %v", allowed)
	}
}
