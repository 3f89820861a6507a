package network

// The bridge binding (KubeVirt's default binding on the pod network): the guest takes the
// pod's place on the pod network, with the pod's IP and MAC:
//
//	eth0 (no IP, a new MAC) -- k6t-eth0 bridge (169.254.75.10/32) -- tap0 -- guest (pod IP, pod MAC)
//
// The launcher's DHCP server, answering from the bridge's link-local address, hands the
// guest the pod's address, prefix and gateway. Every port of the pod's IP reaches the
// guest, and the pod network's peers see the guest as they saw the pod: a nested
// Kubernetes node needs exactly that (its own routable address, every port).

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

const (
	// bridgeServerIP is the link-local address the launcher's DHCP server answers from on
	// the bridge: the guest must see a server address, and the pod's own is the guest's
	// now. KubeVirt's bridge binding uses the same range.
	bridgeServerIP = "169.254.75.10"
	// podLinkAliasPrefix marks the bridge's alias (IFLA_IFALIAS) that keeps eth0's original
	// address, gateway and MAC: once eth0 is moved onto the bridge they are gone from it,
	// and a virt-handler restarted half-way must find them again.
	podLinkAliasPrefix = "hypernest-pod-link:"
)

// podLink is what the pod's eth0 had before the guest took it over.
type podLink struct {
	// Address is the pod's IPv4 address with prefix, e.g. 10.244.0.7/24.
	Address string `json:"a"`
	// Gateway is the pod's default gateway.
	Gateway string `json:"g"`
	// MAC is eth0's original MAC address: the guest's, unless the VMI sets one.
	MAC string `json:"m"`
}

func plumbBridge(pid int, vmi *v1.VirtualMachineInstance, iface *v1.Interface) (*launcherv1.InterfacePlumbing, error) {
	plumbing := &launcherv1.InterfacePlumbing{
		Name:     iface.Name,
		Tap:      tapName,
		Bridge:   bridgeName,
		ServerIp: bridgeServerIP,
	}
	queues := tapQueues(vmi)
	target, err := enterPod(pid, plumbing, func(eth0 netlink.Link) error {
		mtu := eth0.Attrs().MTU
		bridge, orig, err := ensurePodBridge(eth0, mtu)
		if err != nil {
			return err
		}
		if err := movePodLink(vmi, iface, eth0, bridge, orig); err != nil {
			return err
		}
		if err := ensureTap(bridge, mtu, queues); err != nil {
			return err
		}
		addr, err := netlink.ParseIPNet(orig.Address)
		if err != nil {
			return fmt.Errorf("the pod's recorded address %q: %w", orig.Address, err)
		}
		ones, _ := addr.Mask.Size()
		plumbing.GuestIp = orig.Address
		plumbing.GatewayIp = fmt.Sprintf("%s/%d", orig.Gateway, ones)
		plumbing.PodIp = addr.IP.String()
		plumbing.Mac = iface.MacAddress
		if plumbing.Mac == "" {
			plumbing.Mac = orig.MAC
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	target.Close()
	return plumbing, nil
}

// ensurePodBridge returns the bridge and eth0's original configuration: read back from the
// bridge's alias when an earlier call made the bridge, else read from eth0 and recorded in
// the alias of a new bridge before anything about eth0 changes.
func ensurePodBridge(eth0 netlink.Link, mtu int) (netlink.Link, *podLink, error) {
	if link, err := netlink.LinkByName(bridgeName); err == nil && strings.HasPrefix(link.Attrs().Alias, podLinkAliasPrefix) {
		orig := &podLink{}
		if err := json.Unmarshal([]byte(strings.TrimPrefix(link.Attrs().Alias, podLinkAliasPrefix)), orig); err != nil {
			return nil, nil, fmt.Errorf("reading eth0's recorded configuration from %s: %w", bridgeName, err)
		}
		return link, orig, nil
	}
	// No record yet (or a bridge made by a call that stopped before recording): eth0 still
	// has what it had.
	orig, err := readPodLink(eth0)
	if err != nil {
		return nil, nil, err
	}
	alias, err := json.Marshal(orig)
	if err != nil {
		return nil, nil, err
	}
	server := &net.IPNet{IP: net.ParseIP(bridgeServerIP).To4(), Mask: net.CIDRMask(32, 32)}
	bridge, err := ensureBridge(mtu, server)
	if err != nil {
		return nil, nil, err
	}
	if err := netlink.LinkSetAlias(bridge, podLinkAliasPrefix+string(alias)); err != nil {
		return nil, nil, fmt.Errorf("recording eth0's configuration on %s: %w", bridgeName, err)
	}
	return bridge, orig, nil
}

// readPodLink reads eth0's IPv4 address, default gateway and MAC.
func readPodLink(eth0 netlink.Link) (*podLink, error) {
	addrs, err := netlink.AddrList(eth0, netlink.FAMILY_V4)
	if err != nil || len(addrs) == 0 {
		return nil, fmt.Errorf("the pod's %s has no IPv4 address", podInterface)
	}
	routes, err := netlink.RouteList(eth0, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("listing the pod's routes: %w", err)
	}
	var gateway net.IP
	for _, r := range routes {
		if r.Gw == nil {
			continue
		}
		// The default route: no destination, or 0.0.0.0/0 (netlink reports either).
		if r.Dst == nil {
			gateway = r.Gw
			break
		}
		if ones, _ := r.Dst.Mask.Size(); ones == 0 && r.Dst.IP.IsUnspecified() {
			gateway = r.Gw
			break
		}
	}
	if gateway == nil {
		return nil, fmt.Errorf("the pod's %s has no default route: the bridge binding needs a gateway to give the guest", podInterface)
	}
	return &podLink{Address: addrs[0].IPNet.String(), Gateway: gateway.String(), MAC: eth0.Attrs().HardwareAddr.String()}, nil
}

// movePodLink hands eth0's address to the guest: eth0 loses its IP, takes a MAC of its own
// (the guest answers for the pod's MAC, so peers' ARP caches stay right) and becomes a port
// of the bridge. Each step checks first, so a second call finishes what a first began.
func movePodLink(vmi *v1.VirtualMachineInstance, iface *v1.Interface, eth0, bridge netlink.Link, orig *podLink) error {
	if eth0.Attrs().MasterIndex == bridge.Attrs().Index {
		return noLearningOnPodLink(eth0)
	}
	if err := netlink.LinkSetDown(eth0); err != nil {
		return fmt.Errorf("taking %s down: %w", podInterface, err)
	}
	if eth0.Attrs().HardwareAddr.String() == orig.MAC {
		if err := netlink.LinkSetHardwareAddr(eth0, stableMAC(vmi.Namespace+"/"+vmi.Name+"/"+iface.Name+"/pod")); err != nil {
			return fmt.Errorf("giving %s a MAC of its own: %w", podInterface, err)
		}
	}
	addr, err := netlink.ParseAddr(orig.Address)
	if err != nil {
		return err
	}
	if err := netlink.AddrDel(eth0, addr); err != nil && !errors.Is(err, unix.EADDRNOTAVAIL) {
		return fmt.Errorf("removing the pod's address from %s: %w", podInterface, err)
	}
	if err := netlink.LinkSetMaster(eth0, bridge); err != nil {
		return fmt.Errorf("attaching %s to %s: %w", podInterface, bridgeName, err)
	}
	if err := noLearningOnPodLink(eth0); err != nil {
		return err
	}
	if err := netlink.LinkSetUp(eth0); err != nil {
		return fmt.Errorf("bringing %s up: %w", podInterface, err)
	}
	return nil
}

// noLearningOnPodLink stops the bridge from learning MAC addresses on eth0. CNI bridges in
// hairpin mode (the local cluster's, and many others) send the guest's own broadcasts back
// down eth0; a bridge that learned from them would place the guest's MAC behind eth0 and
// drop every frame for the guest that arrives there, until the guest next sent one out
// (seen as Service traffic to a bridge-bound VM timing out while its pod IP answered).
// Frames for MACs not learned on tap0 are flooded to both ports, which is all eth0 needs.
func noLearningOnPodLink(eth0 netlink.Link) error {
	if err := netlink.LinkSetLearning(eth0, false); err != nil {
		return fmt.Errorf("turning MAC learning off on %s: %w", podInterface, err)
	}
	return nil
}
