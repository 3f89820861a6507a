// Package network wires a guest to its pod's network, from the privileged node agent,
// inside the unprivileged launcher pod's network namespace, with one of KubeVirt's two
// pod network bindings. Masquerade:
//
//	eth0 (pod IP) <-NAT-> k6t-eth0 bridge (10.0.2.1/24) -- tap0 (owned by the launcher) -- guest (10.0.2.2)
//
// Incoming traffic to the pod IP (the declared ports, or every port) is DNATed to the
// guest; the guest's traffic leaves masqueraded as the pod IP. Bridge (bridge.go): the
// guest takes the pod's IP and MAC on the pod network itself. Either way the launcher
// then answers the guest's DHCP on the bridge and attaches QEMU to the tap. Names and
// addresses are KubeVirt's, so guests and tooling see what they see on KubeVirt.
package network

import (
	"bufio"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

const (
	podInterface  = "eth0"
	bridgeName    = "k6t-eth0"
	tapName       = "tap0"
	nftTable      = "hypernest"
	defaultCIDR   = "10.0.2.0/24" // KubeVirt's masquerade network
	gatewayOffset = 1
	guestOffset   = 2
)

// Plumb prepares every interface of vmi in the network namespace of process pid (the
// launcher, as seen from the node) and returns what it made. It is idempotent: a second
// call (virt-handler restarted) finds and returns what the first made.
func Plumb(pid int, vmi *v1.VirtualMachineInstance) ([]*launcherv1.InterfacePlumbing, error) {
	var podNet *v1.Network
	for i := range vmi.Spec.Networks {
		if vmi.Spec.Networks[i].Pod != nil {
			podNet = &vmi.Spec.Networks[i]
		}
	}
	var out []*launcherv1.InterfacePlumbing
	for _, iface := range vmi.Spec.Domain.Devices.Interfaces {
		if podNet == nil || iface.Name != podNet.Name || (iface.Masquerade == nil && iface.Bridge == nil) {
			return nil, fmt.Errorf("interface %q: only the masquerade and bridge bindings on the pod network are supported", iface.Name)
		}
		var p *launcherv1.InterfacePlumbing
		var err error
		if iface.Bridge != nil {
			p, err = plumbBridge(pid, vmi, &iface)
		} else {
			cidr := podNet.Pod.VMNetworkCIDR
			if cidr == "" {
				cidr = defaultCIDR
			}
			p, err = plumbMasquerade(pid, vmi, &iface, cidr)
		}
		if err != nil {
			return nil, fmt.Errorf("interface %q: %w", iface.Name, err)
		}
		out = append(out, p)
	}
	return out, nil
}

// nthAddress is the n-th address of a network.
func nthAddress(network *net.IPNet, n int) net.IP {
	ip := make(net.IP, 4)
	copy(ip, network.IP.To4())
	ip[3] += byte(n)
	return ip
}

// GuestMAC is a stable, locally administered MAC for an interface of a VMI: the same on
// every restart of the VMI, so the guest's network configuration keeps matching.
func GuestMAC(vmi *v1.VirtualMachineInstance, iface string) string {
	return stableMAC(vmi.Namespace + "/" + vmi.Name + "/" + iface).String()
}

// stableMAC is a locally administered MAC derived from key.
func stableMAC(key string) net.HardwareAddr {
	sum := sha256.Sum256([]byte(key))
	return net.HardwareAddr{0x02, sum[0], sum[1], sum[2], sum[3], sum[4]}
}

func plumbMasquerade(pid int, vmi *v1.VirtualMachineInstance, iface *v1.Interface, cidr string) (*launcherv1.InterfacePlumbing, error) {
	_, network, err := net.ParseCIDR(cidr)
	if err != nil || network.IP.To4() == nil {
		return nil, fmt.Errorf("vmNetworkCIDR %q is not an IPv4 network", cidr)
	}
	ones, _ := network.Mask.Size()
	gateway, guest := nthAddress(network, gatewayOffset), nthAddress(network, guestOffset)
	mac := iface.MacAddress
	if mac == "" {
		mac = GuestMAC(vmi, iface.Name)
	}
	plumbing := &launcherv1.InterfacePlumbing{
		Name:      iface.Name,
		Tap:       tapName,
		Mac:       mac,
		Bridge:    bridgeName,
		GuestIp:   fmt.Sprintf("%s/%d", guest, ones),
		GatewayIp: fmt.Sprintf("%s/%d", gateway, ones),
	}
	queues := tapQueues(vmi)
	target, err := enterPod(pid, plumbing, func(eth0 netlink.Link) error {
		addrs, err := netlink.AddrList(eth0, netlink.FAMILY_V4)
		if err != nil || len(addrs) == 0 {
			return fmt.Errorf("the pod's %s has no IPv4 address", podInterface)
		}
		plumbing.PodIp = addrs[0].IP.String()
		bridge, err := ensureBridge(eth0.Attrs().MTU, &net.IPNet{IP: gateway, Mask: network.Mask})
		if err != nil {
			return err
		}
		if err := ensureTap(bridge, eth0.Attrs().MTU, queues); err != nil {
			return err
		}
		// The namespace routes between the bridge and eth0.
		return os.WriteFile("/proc/sys/net/ipv4/ip_forward", []byte("1"), 0o644)
	})
	if err != nil {
		return nil, err
	}
	defer target.Close()
	if err := natRules(target, guest, iface.Ports); err != nil {
		return nil, fmt.Errorf("programming NAT: %w", err)
	}
	return plumbing, nil
}

// tapQueues is the number of queues the tap needs: one per vCPU with
// networkInterfaceMultiqueue, as KubeVirt gives.
func tapQueues(vmi *v1.VirtualMachineInstance) int {
	if mq := vmi.Spec.Domain.Devices.NetworkInterfaceMultiQueue; mq == nil || !*mq {
		return 0
	}
	if cpu := vmi.Spec.Domain.CPU; cpu != nil {
		return int(cpu.Sockets * cpu.Cores * cpu.Threads)
	}
	return 0
}

// enterPod reads the pod's DNS settings into plumbing, then runs fn in the network
// namespace of process pid (the launcher) with the pod's eth0, whose MTU plumbing takes.
// The namespace stays open for the caller, who closes it.
func enterPod(pid int, plumbing *launcherv1.InterfacePlumbing, fn func(eth0 netlink.Link) error) (netns.NsHandle, error) {
	plumbing.DnsServers, plumbing.SearchDomains = resolvConf(filepath.Join("/proc", fmt.Sprint(pid), "root", "etc", "resolv.conf"))
	target, err := netns.GetFromPid(pid)
	if err != nil {
		return 0, fmt.Errorf("opening the network namespace of process %d: %w", pid, err)
	}
	err = inNamespace(target, func() error {
		eth0, err := netlink.LinkByName(podInterface)
		if err != nil {
			return fmt.Errorf("the pod has no %s: %w", podInterface, err)
		}
		plumbing.Mtu = uint32(eth0.Attrs().MTU)
		return fn(eth0)
	})
	if err != nil {
		target.Close()
		return 0, err
	}
	return target, nil
}

// inNamespace runs fn on a thread switched into ns.
func inNamespace(ns netns.NsHandle, fn func() error) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	origin, err := netns.Get()
	if err != nil {
		return err
	}
	defer origin.Close()
	if err := netns.Set(ns); err != nil {
		return err
	}
	defer func() {
		if err := netns.Set(origin); err != nil {
			// A thread stuck in another namespace must not be reused: leave it locked so the
			// runtime discards it when this goroutine ends.
			runtime.LockOSThread()
		}
	}()
	return fn()
}

func ensureBridge(mtu int, addr *net.IPNet) (netlink.Link, error) {
	link, err := netlink.LinkByName(bridgeName)
	if err != nil {
		br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: bridgeName, MTU: mtu}}
		if err := netlink.LinkAdd(br); err != nil {
			return nil, fmt.Errorf("creating bridge %s: %w", bridgeName, err)
		}
		if link, err = netlink.LinkByName(bridgeName); err != nil {
			return nil, err
		}
	}
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: addr}); err != nil {
		return nil, fmt.Errorf("addressing bridge %s: %w", bridgeName, err)
	}
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, err
	}
	return link, nil
}

// ensureTap creates the persistent tap QEMU attaches to, owned by the launcher's user so
// the unprivileged libvirt can open it.
func ensureTap(bridge netlink.Link, mtu, queues int) error {
	if link, err := netlink.LinkByName(tapName); err == nil {
		return netlink.LinkSetMaster(link, bridge)
	}
	flags := netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR
	if queues > 1 {
		flags |= netlink.TUNTAP_MULTI_QUEUE
	}
	tap := &netlink.Tuntap{
		LinkAttrs: netlink.LinkAttrs{Name: tapName, MTU: mtu, MasterIndex: bridge.Attrs().Index},
		Mode:      netlink.TUNTAP_MODE_TAP,
		Flags:     flags,
		Owner:     launcherv1.LauncherUID,
		Group:     launcherv1.LauncherUID,
		Queues:    1,
	}
	if err := netlink.LinkAdd(tap); err != nil {
		return fmt.Errorf("creating tap %s: %w", tapName, err)
	}
	// LinkAdd keeps the queue open; the tap is persistent, QEMU opens it again.
	for _, f := range tap.Fds {
		f.Close()
	}
	link, err := netlink.LinkByName(tapName)
	if err != nil {
		return err
	}
	return netlink.LinkSetUp(link)
}

// natRules (re)writes the namespace's NAT table: DNAT of the declared ports (or every port)
// arriving on eth0 to the guest, and masquerade of the guest's traffic leaving by eth0.
func natRules(ns netns.NsHandle, guest net.IP, ports []v1.Port) error {
	c, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		return err
	}
	// Start from a clean table: a restarted virt-handler rewrites the same rules.
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return err
	}
	for _, t := range tables {
		if t.Name == nftTable {
			c.DelTable(t)
		}
	}
	table := c.AddTable(&nftables.Table{Family: nftables.TableFamilyIPv4, Name: nftTable})
	pre := c.AddChain(&nftables.Chain{Name: "prerouting", Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest})
	post := c.AddChain(&nftables.Chain{Name: "postrouting", Table: table, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource})

	iif := []expr.Any{
		&expr.Meta{Key: expr.MetaKeyIIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(podInterface)},
	}
	dnat := []expr.Any{
		&expr.Immediate{Register: 1, Data: guest.To4()},
		&expr.NAT{Type: expr.NATTypeDestNAT, Family: unix.NFPROTO_IPV4, RegAddrMin: 1},
	}
	if len(ports) == 0 {
		for _, proto := range []byte{unix.IPPROTO_TCP, unix.IPPROTO_UDP} {
			rule := append(append([]expr.Any{}, iif...),
				&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
				&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}})
			c.AddRule(&nftables.Rule{Table: table, Chain: pre, Exprs: append(rule, dnat...)})
		}
	}
	for _, p := range ports {
		proto := byte(unix.IPPROTO_TCP)
		if p.Protocol == "UDP" {
			proto = unix.IPPROTO_UDP
		}
		rule := append(append([]expr.Any{}, iif...),
			&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{proto}},
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2},
			&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{byte(p.Port >> 8), byte(p.Port)}})
		c.AddRule(&nftables.Rule{Table: table, Chain: pre, Exprs: append(rule, dnat...)})
	}
	c.AddRule(&nftables.Rule{Table: table, Chain: post, Exprs: []expr.Any{
		&expr.Meta{Key: expr.MetaKeyOIFNAME, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(podInterface)},
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: guest.To4()},
		&expr.Masq{},
	}})
	return c.Flush()
}

// ifname is an interface name as nftables compares it: NUL-padded to IFNAMSIZ.
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// resolvConf reads nameservers and search domains from a resolv.conf.
func resolvConf(path string) (servers, search []string) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 2 {
			continue
		}
		switch fields[0] {
		case "nameserver":
			servers = append(servers, fields[1])
		case "search":
			search = append(search, fields[1:]...)
		}
	}
	return servers, search
}
