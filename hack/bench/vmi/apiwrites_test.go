package main

import "testing"

func TestParseAPIWrites(t *testing.T) {
	text := `# HELP apiserver_request_total Counter of apiserver requests.
# TYPE apiserver_request_total counter
apiserver_request_total{code="201",component="apiserver",dry_run="",group="kubevirt.io",resource="virtualmachineinstances",scope="resource",subresource="",verb="POST",version="v1"} 10
apiserver_request_total{code="200",component="apiserver",dry_run="",group="kubevirt.io",resource="virtualmachineinstances",scope="resource",subresource="status",verb="PATCH",version="v1"} 25
apiserver_request_total{code="200",component="apiserver",dry_run="",group="kubevirt.io",resource="virtualmachineinstances",scope="resource",subresource="status",verb="PUT",version="v1"} 5
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="pods",scope="namespace",subresource="",verb="LIST",version="v1"} 99
apiserver_request_total{code="200",component="apiserver",dry_run="",group="",resource="",scope="",subresource="/healthz",verb="POST",version=""} 7
`
	got, err := parseAPIWrites([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"virtualmachineinstances": 10, "virtualmachineinstances/status": 30}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: %v, want %v", k, got[k], v)
		}
	}
	if total := sum(perVMI(writesBetween(map[string]float64{"virtualmachineinstances": 0}, got), 10)); total != 4 {
		t.Errorf("writes per VMI = %v, want 4", total)
	}
}
