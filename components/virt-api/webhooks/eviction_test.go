package webhooks

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	k8sv1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
)

// The edge cases of the eviction webhook, with a fake client for the reads; the
// controller integration suite evicts through envtest's real API server.
func TestEvictionEdgeCases(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := v1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := k8sv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	launcher := func(name, vmi, node string) *k8sv1.Pod {
		return &k8sv1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{v1.AppLabel: launcherv1.AppLabelValue},
				Annotations: map[string]string{v1.DomainAnnotation: vmi}},
			Spec: k8sv1.PodSpec{NodeName: node}, Status: k8sv1.PodStatus{Phase: k8sv1.PodRunning},
		}
	}
	external := ptr.To(v1.EvictionStrategyExternal)
	vmi := &v1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Name: "guest", Namespace: "default"},
		Spec: v1.VirtualMachineInstanceSpec{EvictionStrategy: external}, Status: v1.VirtualMachineInstanceStatus{Phase: v1.Running, NodeName: "node-a"}}
	notLauncher := launcher("virt-launcher-impostor", "guest", "node-a")
	notLauncher.Labels = nil
	ended := launcher("virt-launcher-guest-old", "guest", "node-a")
	ended.Status.Phase = k8sv1.PodSucceeded
	c := fake.NewClientBuilder().WithScheme(scheme).WithStatusSubresource(&v1.VirtualMachineInstance{}).WithObjects(vmi,
		notLauncher, ended, launcher("virt-launcher-orphan", "gone", "node-a"), launcher("virt-launcher-guest-target", "guest", "node-b")).Build()
	v := &evictionValidator{decoder: decoder(t), reader: c, writer: c, config: configOf(clusterconfig.Config{})}

	for pod, want := range map[string]string{
		"virt-launcher-missing":      "", // the eviction API answers for it
		"virt-launcher-impostor":     "", // not a launcher pod, though named like one
		"virt-launcher-guest-old":    "", // ended: nothing runs in it
		"virt-launcher-orphan":       "", // its VMI is gone
		"virt-launcher-guest-target": "Eviction request for target Pod",
	} {
		resp := v.Handle(context.Background(), evictionRequest(t, pod))
		switch {
		case want == "" && !resp.Allowed:
			t.Errorf("%s: refused (%s), want allowed", pod, resp.Result.Message)
		case want != "" && (resp.Allowed || resp.Result.Code != http.StatusTooManyRequests || !strings.Contains(resp.Result.Message, want)):
			t.Errorf("%s: got allowed=%v %+v, want 429 %q", pod, resp.Allowed, resp.Result, want)
		}
	}
	got := &v1.VirtualMachineInstance{}
	if err := c.Get(context.Background(), client.ObjectKeyFromObject(vmi), got); err != nil || got.Status.EvacuationNodeName != "" {
		t.Errorf("the VMI was marked (%q, %v): an eviction of a pod on another node than the VMI's must not", got.Status.EvacuationNodeName, err)
	}
}

func evictionRequest(t *testing.T, pod string) admission.Request {
	raw, err := json.Marshal(&policyv1.Eviction{TypeMeta: metav1.TypeMeta{APIVersion: "policy/v1", Kind: "Eviction"}, ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: "default"}})
	if err != nil {
		t.Fatal(err)
	}
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		Operation: admissionv1.Create, Name: pod, Namespace: "default", SubResource: "eviction",
		Object: runtime.RawExtension{Raw: raw},
	}}
}
