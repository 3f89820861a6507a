package cmd

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// What virtctl migrate and migrate-cancel send, against a stand-in API server that
// records the requests; the functional tests run them against the local cluster.

type recordedCall struct{ method, path, query, body string }

func apiServer(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) (*httptest.Server, func() []recordedCall) {
	t.Helper()
	var mu sync.Mutex
	var calls []recordedCall
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		calls = append(calls, recordedCall{r.Method, r.URL.Path, r.URL.RawQuery, string(body)})
		mu.Unlock()
		answer(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, func() []recordedCall { mu.Lock(); defer mu.Unlock(); return append([]recordedCall(nil), calls...) }
}

func runVirtctl(t *testing.T, server string, args ...string) (string, error) {
	t.Helper()
	root := NewRootCommand()
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"--server", server, "--namespace", "ns"}, args...))
	err := root.Execute()
	return out.String(), err
}

func writeJSONAnswer(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func TestMigratePutsTheOptions(t *testing.T) {
	srv, calls := apiServer(t, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
	out, err := runVirtctl(t, srv.URL, "migrate", "vm", "--addedNodeSelector", "topology.kubernetes.io/zone=b", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	if out != "VM vm was scheduled to migrate\n" {
		t.Errorf("output %q", out)
	}
	got := calls()
	if len(got) != 1 || got[0].method != http.MethodPut || got[0].path != "/apis/subresources.kubevirt.io/v1/namespaces/ns/virtualmachines/vm/migrate" {
		t.Fatalf("calls %+v", got)
	}
	if want := `{"dryRun":["All"],"addedNodeSelector":{"topology.kubernetes.io/zone":"b"}}`; got[0].body != want {
		t.Errorf("body %s, want %s", got[0].body, want)
	}
}

func TestMigratePrintsTheRefusal(t *testing.T) {
	srv, _ := apiServer(t, func(w http.ResponseWriter, _ *http.Request) {
		writeJSONAnswer(w, http.StatusForbidden, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure,
			Code: http.StatusForbidden, Reason: metav1.StatusReasonForbidden, Message: `admission webhook "migration-validator.kubevirt.io" denied the request: Cannot migrate VMI`})
	})
	_, err := runVirtctl(t, srv.URL, "migrate", "vm")
	if err == nil || message(err) != `Error migrating VirtualMachine vm: admission webhook "migration-validator.kubevirt.io" denied the request: Cannot migrate VMI` {
		t.Errorf("error %v", err)
	}
}

func migrationList(items ...v1.VirtualMachineInstanceMigration) *v1.VirtualMachineInstanceMigrationList {
	return &v1.VirtualMachineInstanceMigrationList{TypeMeta: metav1.TypeMeta{Kind: "VirtualMachineInstanceMigrationList", APIVersion: "kubevirt.io/v1"}, Items: items}
}

func migrationIn(name string, phase v1.VirtualMachineInstanceMigrationPhase) v1.VirtualMachineInstanceMigration {
	return v1.VirtualMachineInstanceMigration{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns"},
		Spec: v1.VirtualMachineInstanceMigrationSpec{VMIName: "vm"}, Status: v1.VirtualMachineInstanceMigrationStatus{Phase: phase}}
}

func TestMigrateCancelDeletesTheMigrationInFlight(t *testing.T) {
	srv, calls := apiServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			writeJSONAnswer(w, http.StatusOK, migrationList(migrationIn("done", v1.MigrationSucceeded), migrationIn("moving", v1.MigrationRunning)))
			return
		}
		writeJSONAnswer(w, http.StatusOK, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess})
	})
	out, err := runVirtctl(t, srv.URL, "migrate-cancel", "vm")
	if err != nil {
		t.Fatal(err)
	}
	if out != "VM vm was scheduled to migrate-cancel\n" {
		t.Errorf("output %q", out)
	}
	got := calls()
	if len(got) != 2 || !strings.Contains(got[0].query, "labelSelector=kubevirt.io%2Fvmi-name%3Dvm") ||
		got[1].method != http.MethodDelete || got[1].path != "/apis/kubevirt.io/v1/namespaces/ns/virtualmachineinstancemigrations/moving" {
		t.Errorf("calls %+v; want the list by kubevirt.io/vmi-name, then DELETE of moving only", got)
	}
}

func TestMigrateCancelDryRun(t *testing.T) {
	srv, calls := apiServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			writeJSONAnswer(w, http.StatusOK, migrationList(migrationIn("moving", v1.MigrationScheduling)))
			return
		}
		writeJSONAnswer(w, http.StatusOK, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess})
	})
	if _, err := runVirtctl(t, srv.URL, "migrate-cancel", "vm", "--dry-run"); err != nil {
		t.Fatal(err)
	}
	if got := calls(); len(got) != 2 || got[1].method != http.MethodDelete || got[1].query != "dryRun=All" {
		t.Errorf("calls %+v; want the DELETE with dryRun=All", got)
	}
}

func TestMigrateCancelWithNothingInFlight(t *testing.T) {
	srv, calls := apiServer(t, func(w http.ResponseWriter, _ *http.Request) {
		writeJSONAnswer(w, http.StatusOK, migrationList(migrationIn("done", v1.MigrationFailed)))
	})
	_, err := runVirtctl(t, srv.URL, "migrate-cancel", "vm")
	if err == nil || err.Error() != "Found no migration to cancel for vm" {
		t.Errorf("error %v", err)
	}
	if got := calls(); len(got) != 1 {
		t.Errorf("calls %+v; want the list only", got)
	}
}

func TestEvacuateCancelPutsToTheNestedSubresource(t *testing.T) {
	srv, calls := apiServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			writeJSONAnswer(w, http.StatusOK, &v1.VirtualMachineInstance{
				TypeMeta:   metav1.TypeMeta{Kind: "VirtualMachineInstance", APIVersion: "kubevirt.io/v1"},
				ObjectMeta: metav1.ObjectMeta{Name: "vm", Namespace: "ns"},
				Status:     v1.VirtualMachineInstanceStatus{NodeName: "node-1"},
			})
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	out, err := runVirtctl(t, srv.URL, "evacuate-cancel", "vm", "vm", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	if out != "Dry Run execution\nVM ns/vm was canceled evacuation\n" {
		t.Errorf("output %q", out)
	}
	got := calls()
	if len(got) != 2 || got[1].method != http.MethodPut || got[1].path != "/apis/subresources.kubevirt.io/v1/namespaces/ns/virtualmachines/vm/evacuate/cancel" {
		t.Fatalf("calls %+v", got)
	}
	if want := `{"dryRun":["All"],"evacuationNodeName":"node-1"}`; got[1].body != want {
		t.Errorf("body %s, want %s", got[1].body, want)
	}
}
