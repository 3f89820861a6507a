package cmd

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// exposeOptions are the flags of `virtctl expose`, KubeVirt's.
type exposeOptions struct {
	name, clusterIP, externalIP, protocol, targetPort, serviceType, portName, ipFamily, ipFamilyPolicy string
	port                                                                                               int32
}

func newExposeCommand(cfg *clientConfig) *cobra.Command {
	o := &exposeOptions{protocol: "TCP", serviceType: "ClusterIP"}
	cmd := &cobra.Command{
		Use:   "expose (TYPE NAME)",
		Short: "Expose a virtual machine instance, virtual machine, or virtual machine instance replica set as a new service.",
		Long: `Creates a Service that selects the guest's virt-launcher pod (a VMI or a VM) or the pods of a
replica set's VMIs (its matchLabels), on --port, or on the ports the pod network interface
lists. TYPE is vmi, vm or vmirs (or their long, plural forms).`,
		Example: `  # SSH to the VMI myvm on every node's port (NodePort):
  virtctl expose vmi myvm --port=22 --name=myvm-ssh --type=NodePort

  # Port 8080 of a replica set's guests as port 80:
  virtctl expose vmirs myvmirs --port=80 --target-port=8080 --name=vmirs-service`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd, cfg, strings.ToLower(args[0]), args[1])
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.name, "name", "", "name of the Service")
	if err := cmd.MarkFlagRequired("name"); err != nil {
		panic(err)
	}
	f.StringVar(&o.clusterIP, "cluster-ip", "", "ClusterIP of the Service (empty: allocated; None: headless)")
	f.StringVar(&o.externalIP, "external-ip", "", "an external IP the Service also accepts")
	f.Int32Var(&o.port, "port", 0, "the port the Service serves on")
	f.StringVar(&o.protocol, "protocol", o.protocol, "TCP or UDP")
	f.StringVar(&o.targetPort, "target-port", "", "name or number of the guest's port (default: --port)")
	f.StringVar(&o.serviceType, "type", o.serviceType, "ClusterIP, NodePort or LoadBalancer")
	f.StringVar(&o.portName, "port-name", "", "name of the port")
	f.StringVar(&o.ipFamily, "ip-family", "", "IPv4, IPv6, IPv4,IPv6 or IPv6,IPv4")
	f.StringVar(&o.ipFamilyPolicy, "ip-family-policy", "", "SingleStack, PreferDualStack or RequireDualStack")
	return cmd
}

func (o *exposeOptions) run(cmd *cobra.Command, cfg *clientConfig, kind, name string) error {
	svc, err := o.service()
	if err != nil {
		return err
	}
	ns, kv, err := cfg.kubevirtIn()
	if err != nil {
		return err
	}
	var owner metav1.Object
	var gvk schema.GroupVersionKind
	var template *v1.VirtualMachineInstanceSpec
	switch kind {
	case "vmi", "vmis", "virtualmachineinstance", "virtualmachineinstances":
		vmi := &v1.VirtualMachineInstance{}
		if err := kv.Get().Namespace(ns).Resource("virtualmachineinstances").Name(name).Do(cmd.Context()).Into(vmi); err != nil {
			return fmt.Errorf("error fetching VirtualMachineInstance: %s", message(err))
		}
		owner, gvk, template = vmi, v1.VirtualMachineInstanceGroupVersionKind, &vmi.Spec
		svc.Spec.Selector = map[string]string{v1.VirtualMachineInstanceIDLabel: v1.VirtualMachineInstanceID(vmi.Name)}
	case "vm", "vms", "virtualmachine", "virtualmachines":
		vm := &v1.VirtualMachine{}
		if err := kv.Get().Namespace(ns).Resource("virtualmachines").Name(name).Do(cmd.Context()).Into(vm); err != nil {
			return fmt.Errorf("error fetching VirtualMachine: %s", message(err))
		}
		owner, gvk = vm, v1.VirtualMachineGroupVersionKind
		if vm.Spec.Template != nil {
			template = &vm.Spec.Template.Spec
		}
		// The VM's VMI has the VM's name, whichever VMI runs now.
		svc.Spec.Selector = map[string]string{v1.VirtualMachineInstanceIDLabel: v1.VirtualMachineInstanceID(vm.Name)}
	case "vmirs", "vmirss", "virtualmachineinstancereplicaset", "virtualmachineinstancereplicasets":
		rs := &v1.VirtualMachineInstanceReplicaSet{}
		if err := kv.Get().Namespace(ns).Resource("virtualmachineinstancereplicasets").Name(name).Do(cmd.Context()).Into(rs); err != nil {
			return fmt.Errorf("error fetching VirtualMachineInstanceReplicaSet: %s", message(err))
		}
		if rs.Spec.Selector == nil || len(rs.Spec.Selector.MatchLabels) == 0 {
			return errors.New("cannot expose VirtualMachineInstanceReplicaSet without any selector labels")
		}
		if len(rs.Spec.Selector.MatchExpressions) > 0 {
			return errors.New("cannot expose VirtualMachineInstanceReplicaSet with match expressions")
		}
		owner, gvk = rs, v1.VirtualMachineInstanceReplicaSetGroupVersionKind
		if rs.Spec.Template != nil {
			template = &rs.Spec.Template.Spec
		}
		// A VMI's labels are on its launcher pod, so the set's selector selects the pods.
		svc.Spec.Selector = rs.Spec.Selector.MatchLabels
	default:
		return fmt.Errorf("unsupported resource type: %s", kind)
	}
	if o.port == 0 && template != nil {
		svc.Spec.Ports = podNetworkPorts(template)
	}
	if len(svc.Spec.Ports) == 0 {
		return errors.New("couldn't find port via --port flag or introspection")
	}
	// The Service goes with what it exposes, without holding up its deletion.
	ref := metav1.NewControllerRef(owner, gvk)
	ref.BlockOwnerDeletion = ptr.To(false)
	svc.OwnerReferences = []metav1.OwnerReference{*ref}
	svc.Namespace = ns

	restConfig, err := cfg.restConfig()
	if err != nil {
		return err
	}
	clientset, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return err
	}
	if _, err := clientset.CoreV1().Services(ns).Create(cmd.Context(), svc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("service creation failed: %s", message(err))
	}
	fmt.Fprintf(cmd.OutOrStdout(), "Service %s successfully created for %s %s\n", o.name, kind, name)
	return nil
}

// service is the Service the flags describe, without selector and owner.
func (o *exposeOptions) service() (*k8sv1.Service, error) {
	svc := &k8sv1.Service{ObjectMeta: metav1.ObjectMeta{Name: o.name}, Spec: k8sv1.ServiceSpec{ClusterIP: o.clusterIP}}
	var protocol k8sv1.Protocol
	switch strings.ToLower(o.protocol) {
	case "tcp":
		protocol = k8sv1.ProtocolTCP
	case "udp":
		protocol = k8sv1.ProtocolUDP
	default:
		return nil, fmt.Errorf("unknown protocol: %s", o.protocol)
	}
	switch strings.ToLower(o.serviceType) {
	case "clusterip":
		svc.Spec.Type = k8sv1.ServiceTypeClusterIP
	case "nodeport":
		svc.Spec.Type = k8sv1.ServiceTypeNodePort
	case "loadbalancer":
		svc.Spec.Type = k8sv1.ServiceTypeLoadBalancer
	default:
		return nil, fmt.Errorf("unknown service type: %s", o.serviceType)
	}
	switch strings.ToLower(o.ipFamily) {
	case "":
	case "ipv4":
		svc.Spec.IPFamilies = []k8sv1.IPFamily{k8sv1.IPv4Protocol}
	case "ipv6":
		svc.Spec.IPFamilies = []k8sv1.IPFamily{k8sv1.IPv6Protocol}
	case "ipv4,ipv6":
		svc.Spec.IPFamilies = []k8sv1.IPFamily{k8sv1.IPv4Protocol, k8sv1.IPv6Protocol}
	case "ipv6,ipv4":
		svc.Spec.IPFamilies = []k8sv1.IPFamily{k8sv1.IPv6Protocol, k8sv1.IPv4Protocol}
	default:
		return nil, fmt.Errorf("unknown IPFamily/s: %s", o.ipFamily)
	}
	switch strings.ToLower(o.ipFamilyPolicy) {
	case "":
		if len(svc.Spec.IPFamilies) > 1 {
			svc.Spec.IPFamilyPolicy = ptr.To(k8sv1.IPFamilyPolicyPreferDualStack)
		}
	case "singlestack":
		svc.Spec.IPFamilyPolicy = ptr.To(k8sv1.IPFamilyPolicySingleStack)
	case "preferdualstack":
		svc.Spec.IPFamilyPolicy = ptr.To(k8sv1.IPFamilyPolicyPreferDualStack)
	case "requiredualstack":
		svc.Spec.IPFamilyPolicy = ptr.To(k8sv1.IPFamilyPolicyRequireDualStack)
	default:
		return nil, fmt.Errorf("unknown IPFamilyPolicy/s: %s", o.ipFamilyPolicy)
	}
	if o.externalIP != "" {
		svc.Spec.ExternalIPs = []string{o.externalIP}
	}
	if o.port != 0 {
		svc.Spec.Ports = []k8sv1.ServicePort{{Name: o.portName, Protocol: protocol, Port: o.port, TargetPort: intstr.Parse(o.targetPort)}}
	}
	return svc, nil
}

// podNetworkPorts are the ports the pod network's interface lists, as KubeVirt names them.
func podNetworkPorts(spec *v1.VirtualMachineInstanceSpec) []k8sv1.ServicePort {
	podNetwork := ""
	for _, n := range spec.Networks {
		if n.Pod != nil {
			podNetwork = n.Name
			break
		}
	}
	if podNetwork == "" {
		return nil
	}
	for _, iface := range spec.Domain.Devices.Interfaces {
		if iface.Name != podNetwork {
			continue
		}
		ports := []k8sv1.ServicePort{}
		for i, p := range iface.Ports {
			protocol := k8sv1.Protocol(p.Protocol)
			if protocol == "" {
				protocol = k8sv1.ProtocolTCP
			}
			ports = append(ports, k8sv1.ServicePort{Name: fmt.Sprintf("port-%d", i+1), Protocol: protocol, Port: p.Port})
		}
		return ports
	}
	return nil
}
