package cmd

import (
	"testing"

	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

func TestExposeServiceFromFlags(t *testing.T) {
	o := &exposeOptions{name: "ssh", protocol: "tcp", serviceType: "nodeport", port: 22, targetPort: "2222", ipFamily: "IPv4,IPv6"}
	svc, err := o.service()
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Type != k8sv1.ServiceTypeNodePort || svc.Spec.Ports[0].Port != 22 || svc.Spec.Ports[0].TargetPort != intstr.FromInt32(2222) ||
		svc.Spec.Ports[0].Protocol != k8sv1.ProtocolTCP || *svc.Spec.IPFamilyPolicy != k8sv1.IPFamilyPolicyPreferDualStack {
		t.Errorf("service %+v", svc.Spec)
	}
	for _, bad := range []exposeOptions{
		{protocol: "sctp", serviceType: "ClusterIP"},
		{protocol: "TCP", serviceType: "ExternalName"},
		{protocol: "TCP", serviceType: "ClusterIP", ipFamily: "IPv5"},
	} {
		if _, err := bad.service(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

func TestExposeUsesThePodNetworkPorts(t *testing.T) {
	spec := &v1.VirtualMachineInstanceSpec{
		Networks: []v1.Network{{Name: "default", NetworkSource: v1.NetworkSource{Pod: &v1.PodNetwork{}}}},
		Domain: v1.DomainSpec{Devices: v1.Devices{Interfaces: []v1.Interface{{Name: "default", Ports: []v1.Port{
			{Name: "http", Port: 80}, {Port: 53, Protocol: "UDP"},
		}}}}},
	}
	ports := podNetworkPorts(spec)
	if len(ports) != 2 || ports[0].Name != "port-1" || ports[0].Protocol != k8sv1.ProtocolTCP || ports[1].Port != 53 || ports[1].Protocol != k8sv1.ProtocolUDP {
		t.Errorf("ports %+v", ports)
	}
}

func TestPortForwardArguments(t *testing.T) {
	for arg, want := range map[string][3]string{
		"vmi/testvmi":                 {"virtualmachineinstances", "testvmi", ""},
		"vm/testvm.mynamespace":       {"virtualmachines", "testvm", "mynamespace"},
		"virtualmachine/testvm/other": {"virtualmachines", "testvm", "other"},
	} {
		r, n, ns, err := parsePortForwardTarget(arg)
		if err != nil || [3]string{r, n, ns} != want {
			t.Errorf("%s: %s %s %s %v", arg, r, n, ns, err)
		}
	}
	if _, _, _, err := parsePortForwardTarget("pod/x"); err == nil {
		t.Error("pod/x accepted")
	}
	ports, err := parseForwardedPorts([]string{"8080:80", "22", "tcp/5900:5901", "UDP/5353:53"})
	if err != nil || len(ports) != 4 || ports[0] != (forwardedPort{8080, 80, "tcp"}) || ports[1] != (forwardedPort{22, 22, "tcp"}) || ports[2].remote != 5901 ||
		ports[3] != (forwardedPort{5353, 53, "udp"}) {
		t.Errorf("ports %+v %v", ports, err)
	}
	for _, bad := range []string{"sctp/53", "x:80", "8080:0", "80:99999"} {
		if _, err := parseForwardedPorts([]string{bad}); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
