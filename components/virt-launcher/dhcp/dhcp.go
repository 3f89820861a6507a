// Package dhcp answers the guest's DHCP requests on the bridge virt-handler built in the
// launcher pod's network namespace: the guest gets its fixed address (behind the pod IP
// with masquerade, the pod's own IP with the bridge binding), the gateway, the pod's DNS
// servers and search domains, and the MTU. It answers only the guest's MAC address, and
// only on that bridge.
package dhcp

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/insomniacslk/dhcp/dhcpv4"
	"github.com/insomniacslk/dhcp/dhcpv4/server4"
	"github.com/insomniacslk/dhcp/rfc1035label"

	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

// leaseTime is what the guest is told. The address never changes while the pod lives, so
// the lease is long (KubeVirt hands out infinite leases); a day keeps clients that
// dislike infinite leases happy and still never expires in practice.
const leaseTime = 24 * time.Hour

// Server runs one DHCP responder per bridge.
type Server struct {
	log     logr.Logger
	mu      sync.Mutex
	serving map[string]*server4.Server
}

// NewServer returns a server with no responder yet.
func NewServer(log logr.Logger) *Server {
	return &Server{log: log, serving: map[string]*server4.Server{}}
}

// Serve starts a responder for each interface that has a bridge and a guest address.
// Calling it again for the same bridge does nothing.
func (s *Server) Serve(ifaces []*launcherv1.InterfacePlumbing) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, iface := range ifaces {
		if iface.Bridge == "" || iface.GuestIp == "" || s.serving[iface.Bridge] != nil {
			continue
		}
		lease, err := newLease(iface)
		if err != nil {
			return fmt.Errorf("interface %q: %w", iface.Name, err)
		}
		srv, err := server4.NewServer(iface.Bridge, &net.UDPAddr{IP: net.IPv4zero, Port: dhcpv4.ServerPort}, lease.handle(s.log))
		if err != nil {
			return fmt.Errorf("interface %q: listening for DHCP on %s: %w", iface.Name, iface.Bridge, err)
		}
		s.serving[iface.Bridge] = srv
		go func() {
			if err := srv.Serve(); err != nil {
				s.log.Error(err, "DHCP responder stopped", "bridge", iface.Bridge)
			}
		}()
		s.log.Info("answering DHCP", "bridge", iface.Bridge, "mac", iface.Mac, "guestIP", iface.GuestIp)
	}
	return nil
}

type lease struct {
	mac     net.HardwareAddr
	ip      net.IP
	mask    net.IPMask
	gateway net.IP
	// server is the address the answers come from: the gateway with masquerade (the
	// launcher's bridge is the gateway), a link-local address of the bridge otherwise.
	server net.IP
	// routes, when the gateway lies outside the guest's subnet (CNIs such as Calico give
	// pods a /32 and a link-local gateway), reach the gateway on the link first (RFC 3442).
	routes []*dhcpv4.Route
	dns    []net.IP
	search []string
	mtu    uint16
}

func newLease(p *launcherv1.InterfacePlumbing) (*lease, error) {
	mac, err := net.ParseMAC(p.Mac)
	if err != nil {
		return nil, fmt.Errorf("bad MAC %q: %w", p.Mac, err)
	}
	ip, ipNet, err := net.ParseCIDR(p.GuestIp)
	if err != nil {
		return nil, fmt.Errorf("bad guest address %q: %w", p.GuestIp, err)
	}
	gw, _, err := net.ParseCIDR(p.GatewayIp)
	if err != nil {
		return nil, fmt.Errorf("bad gateway address %q: %w", p.GatewayIp, err)
	}
	l := &lease{mac: mac, ip: ip.To4(), mask: ipNet.Mask, gateway: gw.To4(), server: gw.To4(), search: p.SearchDomains, mtu: uint16(p.Mtu)}
	if p.ServerIp != "" {
		if l.server = net.ParseIP(p.ServerIp).To4(); l.server == nil {
			return nil, fmt.Errorf("bad DHCP server address %q", p.ServerIp)
		}
	}
	if !ipNet.Contains(l.gateway) {
		l.routes = []*dhcpv4.Route{
			{Dest: &net.IPNet{IP: l.gateway, Mask: net.CIDRMask(32, 32)}, Router: net.IPv4zero.To4()},
			{Dest: &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)}, Router: l.gateway},
		}
	}
	for _, d := range p.DnsServers {
		if addr := net.ParseIP(d); addr != nil && addr.To4() != nil {
			l.dns = append(l.dns, addr.To4())
		}
	}
	return l, nil
}

func (l *lease) handle(log logr.Logger) server4.Handler {
	return func(conn net.PacketConn, _ net.Addr, req *dhcpv4.DHCPv4) {
		if req.OpCode != dhcpv4.OpcodeBootRequest || req.ClientHWAddr.String() != l.mac.String() {
			return
		}
		var kind dhcpv4.MessageType
		switch req.MessageType() {
		case dhcpv4.MessageTypeDiscover:
			kind = dhcpv4.MessageTypeOffer
		case dhcpv4.MessageTypeRequest:
			kind = dhcpv4.MessageTypeAck
		default:
			return
		}
		mods := []dhcpv4.Modifier{
			dhcpv4.WithMessageType(kind),
			dhcpv4.WithYourIP(l.ip),
			dhcpv4.WithServerIP(l.server),
			dhcpv4.WithOption(dhcpv4.OptServerIdentifier(l.server)),
			dhcpv4.WithOption(dhcpv4.OptSubnetMask(l.mask)),
			dhcpv4.WithOption(dhcpv4.OptRouter(l.gateway)),
			dhcpv4.WithOption(dhcpv4.OptIPAddressLeaseTime(leaseTime)),
		}
		if len(l.routes) > 0 {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptClasslessStaticRoute(l.routes...)))
		}
		if len(l.dns) > 0 {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptDNS(l.dns...)))
		}
		if len(l.search) > 0 {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.OptDomainSearch(&rfc1035label.Labels{Labels: l.search})))
		}
		if l.mtu > 0 {
			mods = append(mods, dhcpv4.WithOption(dhcpv4.Option{Code: dhcpv4.OptionInterfaceMTU, Value: dhcpv4.Uint16(l.mtu)}))
		}
		reply, err := dhcpv4.NewReplyFromRequest(req, mods...)
		if err != nil {
			log.Error(err, "building a DHCP reply")
			return
		}
		// The guest has no address yet: answer by broadcast, which every client accepts.
		if _, err := conn.WriteTo(reply.ToBytes(), &net.UDPAddr{IP: net.IPv4bcast, Port: dhcpv4.ClientPort}); err != nil {
			log.Error(err, "sending a DHCP reply")
			return
		}
		log.V(1).Info("DHCP reply", "type", kind.String(), "ip", l.ip.String())
	}
}
