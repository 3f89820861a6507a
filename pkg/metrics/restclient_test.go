package metrics

import (
	"net/url"
	"testing"
)

func TestDescribeRequest(t *testing.T) {
	for _, tc := range []struct {
		method, url              string
		resource, verb, template string
	}{
		{"GET", "https://10.96.0.1:443/apis/kubevirt.io/v1/namespaces/ns1/virtualmachineinstances?labelSelector=a%3Db&limit=500",
			"virtualmachineinstances", "LIST", "https://10.96.0.1:443/apis/kubevirt.io/v1/namespaces/%7Bnamespace%7D/virtualmachineinstances?labelSelector=%7Bvalue%7D&limit=%7Bvalue%7D"},
		{"GET", "https://h/apis/kubevirt.io/v1/virtualmachineinstances?watch=true&resourceVersion=5",
			"virtualmachineinstances", "WATCH", "https://h/apis/kubevirt.io/v1/virtualmachineinstances?resourceVersion=%7Bvalue%7D&watch=%7Bvalue%7D"},
		{"GET", "https://h/api/v1/watch/namespaces/ns1/pods", "pods", "WATCH", "https://h/api/v1/watch/namespaces/%7Bnamespace%7D/pods"},
		{"GET", "https://h/api/v1/namespaces/ns1/pods/p1", "pods", "GET", "https://h/api/v1/namespaces/%7Bnamespace%7D/pods/%7Bname%7D"},
		{"PATCH", "https://h/apis/kubevirt.io/v1/namespaces/ns1/virtualmachineinstances/vmi1/status",
			"virtualmachineinstances", "PATCH", "https://h/apis/kubevirt.io/v1/namespaces/%7Bnamespace%7D/virtualmachineinstances/%7Bname%7D/status"},
		{"POST", "https://h/api/v1/namespaces/ns1/pods", "pods", "CREATE", "https://h/api/v1/namespaces/%7Bnamespace%7D/pods"},
		{"PUT", "https://h/apis/coordination.k8s.io/v1/namespaces/kubevirt/leases/virt-controller", "leases", "UPDATE",
			"https://h/apis/coordination.k8s.io/v1/namespaces/%7Bnamespace%7D/leases/%7Bname%7D"},
		{"DELETE", "https://h/api/v1/namespaces/ns1", "namespaces", "DELETE", "https://h/api/v1/namespaces/%7Bname%7D"},
		{"GET", "https://h/api/v1/nodes", "nodes", "LIST", "https://h/api/v1/nodes"},
		{"GET", "https://h/version", "none", "none", "https://h/version"},
		{"GET", "https://h/apis/kubevirt.io/v1", "none", "none", "https://h/apis/kubevirt.io/v1"},
	} {
		u, err := url.Parse(tc.url)
		if err != nil {
			t.Fatal(err)
		}
		got := describeRequest(tc.method, u)
		if got.resource != tc.resource || got.verb != tc.verb || got.template != tc.template {
			t.Errorf("%s %s: got %+v, want resource %q verb %q template %q", tc.method, tc.url, got, tc.resource, tc.verb, tc.template)
		}
	}
}
