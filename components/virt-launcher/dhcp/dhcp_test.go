package dhcp

import (
	"net"
	"testing"

	"github.com/go-logr/logr"
	"github.com/insomniacslk/dhcp/dhcpv4"

	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

// capture is a PacketConn that keeps what is written to it.
type capture struct {
	net.PacketConn
	sent [][]byte
}

func (c *capture) WriteTo(b []byte, _ net.Addr) (int, error) {
	c.sent = append(c.sent, append([]byte(nil), b...))
	return len(b), nil
}

// offer runs the lease's handler on a DISCOVER from mac and returns the answer.
func offer(t *testing.T, p *launcherv1.InterfacePlumbing, mac string) *dhcpv4.DHCPv4 {
	t.Helper()
	l, err := newLease(p)
	if err != nil {
		t.Fatal(err)
	}
	hw, _ := net.ParseMAC(mac)
	req, err := dhcpv4.NewDiscovery(hw)
	if err != nil {
		t.Fatal(err)
	}
	conn := &capture{}
	l.handle(logr.Discard())(conn, nil, req)
	if len(conn.sent) == 0 {
		return nil
	}
	reply, err := dhcpv4.FromBytes(conn.sent[0])
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

func TestMasqueradeAnswersFromTheGateway(t *testing.T) {
	p := &launcherv1.InterfacePlumbing{Mac: "02:00:00:00:00:01", GuestIp: "10.0.2.2/24", GatewayIp: "10.0.2.1/24", Mtu: 1450}
	r := offer(t, p, p.Mac)
	if r == nil || !r.YourIPAddr.Equal(net.ParseIP("10.0.2.2")) || !r.ServerIdentifier().Equal(net.ParseIP("10.0.2.1")) {
		t.Fatalf("want 10.0.2.2 offered by 10.0.2.1, got %v", r)
	}
	if len(r.ClasslessStaticRoute()) != 0 {
		t.Errorf("a gateway inside the subnet needs no static routes, got %v", r.ClasslessStaticRoute())
	}
	if offer(t, p, "02:00:00:00:00:02") != nil {
		t.Error("answered a MAC that is not the guest's")
	}
}

// The bridge binding answers from the bridge's link-local address and routes the guest
// to the pod's gateway; a /32 pod address (Calico-like CNIs) gets the gateway as a link
// route first.
func TestBridgeAnswersFromItsOwnAddressAndRoutesToTheGateway(t *testing.T) {
	p := &launcherv1.InterfacePlumbing{Mac: "0a:58:0a:f4:00:07", GuestIp: "10.244.0.7/24", GatewayIp: "10.244.0.1/24", ServerIp: "169.254.75.10"}
	r := offer(t, p, p.Mac)
	if r == nil || !r.YourIPAddr.Equal(net.ParseIP("10.244.0.7")) || !r.ServerIdentifier().Equal(net.ParseIP("169.254.75.10")) {
		t.Fatalf("want 10.244.0.7 offered by 169.254.75.10, got %v", r)
	}
	if routers := r.Router(); len(routers) != 1 || !routers[0].Equal(net.ParseIP("10.244.0.1")) {
		t.Errorf("want router 10.244.0.1, got %v", routers)
	}

	p = &launcherv1.InterfacePlumbing{Mac: "0a:58:0a:f4:00:07", GuestIp: "10.244.0.7/32", GatewayIp: "169.254.1.1/32", ServerIp: "169.254.75.10"}
	r = offer(t, p, p.Mac)
	routes := r.ClasslessStaticRoute()
	if len(routes) != 2 || routes[0].Dest.String() != "169.254.1.1/32" || routes[1].Dest.String() != "0.0.0.0/0" || !routes[1].Router.Equal(net.ParseIP("169.254.1.1")) {
		t.Fatalf("want a link route to the gateway, then the default route through it; got %v", routes)
	}
}
