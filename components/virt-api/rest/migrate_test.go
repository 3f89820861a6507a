package rest

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"k8s.io/utils/ptr"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// The migrate subresource's decisions; what the webhooks then make of the migration is
// theirs (webhooks/migration_test.go), and the functional tests call the real chain.

func listMigrations(t *testing.T, a *API) []v1.VirtualMachineInstanceMigration {
	t.Helper()
	list := &v1.VirtualMachineInstanceMigrationList{}
	if err := a.Client.List(context.Background(), list); err != nil {
		t.Fatal(err)
	}
	return list.Items
}

func TestMigrateCreatesAMigrationOfTheRunningVMI(t *testing.T) {
	a, _ := newAPI(t, testVM(ptr.To(v1.RunStrategyAlways), nil), testVMI(v1.Running))
	w := call(a.migrate, `{"addedNodeSelector":{"topology.kubernetes.io/zone":"b"}}`)
	if w.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	got := listMigrations(t, a)
	if len(got) != 1 {
		t.Fatalf("%d migrations, want 1", len(got))
	}
	m := got[0]
	if !strings.HasPrefix(m.Name, migrationGenerateName) || m.Namespace != "ns" || m.Spec.VMIName != "vm" {
		t.Errorf("migration %s/%s of %q; want ns/%s... of vm", m.Namespace, m.Name, m.Spec.VMIName, migrationGenerateName)
	}
	if want := map[string]string{"topology.kubernetes.io/zone": "b"}; !reflect.DeepEqual(m.Spec.AddedNodeSelector, want) {
		t.Errorf("addedNodeSelector %v, want %v", m.Spec.AddedNodeSelector, want)
	}
}

func TestMigrateDryRunCreatesNothing(t *testing.T) {
	a, _ := newAPI(t, testVM(ptr.To(v1.RunStrategyAlways), nil), testVMI(v1.Running))
	if w := call(a.migrate, `{"dryRun":["All"]}`); w.Code != http.StatusAccepted {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if got := listMigrations(t, a); len(got) != 0 {
		t.Errorf("a dry run stored %d migrations", len(got))
	}
}

func TestMigrateRefusals(t *testing.T) {
	for name, tc := range map[string]struct {
		vmi  *v1.VirtualMachineInstance
		noVM bool
		body string
		code int
		want string
	}{
		"no VM":                {noVM: true, code: http.StatusNotFound, want: "not found"},
		"no VMI":               {code: http.StatusConflict, want: "VM is not running"},
		"a VMI not yet placed": {vmi: testVMI(v1.Scheduling), code: http.StatusConflict, want: "VM is not running"},
		"a VMI that ended":     {vmi: testVMI(v1.Failed), code: http.StatusConflict, want: "VM is not running"},
		"an unknown option":    {vmi: testVMI(v1.Running), body: `{"target":"node-2"}`, code: http.StatusBadRequest, want: `unknown field \"target\"`},
	} {
		t.Run(name, func(t *testing.T) {
			var a *API
			switch {
			case tc.noVM:
				a, _ = newAPI(t)
			case tc.vmi == nil:
				a, _ = newAPI(t, testVM(ptr.To(v1.RunStrategyAlways), nil))
			default:
				a, _ = newAPI(t, testVM(ptr.To(v1.RunStrategyAlways), nil), tc.vmi)
			}
			w := call(a.migrate, tc.body)
			if w.Code != tc.code || !strings.Contains(w.Body.String(), tc.want) {
				t.Errorf("status %d %s; want %d with %q", w.Code, w.Body, tc.code, tc.want)
			}
			if got := listMigrations(t, a); len(got) != 0 {
				t.Errorf("%d migrations stored", len(got))
			}
		})
	}
}
