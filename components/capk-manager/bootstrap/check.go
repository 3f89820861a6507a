package bootstrap

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"golang.org/x/crypto/ssh"
	"k8s.io/client-go/rest"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	infrav1 "github.com/hypernest/hypernest/api/infrastructure/v1alpha1"
	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
)

// sentinelContent is what Cluster API's bootstrap providers write into the sentinel.
const sentinelContent = "success"

// sshTimeout bounds one SSH check: connecting and running cat on a booted guest takes
// well under a second; a guest still booting under TCG may not answer at all.
const sshTimeout = 10 * time.Second

// Target is the machine whose bootstrap is checked.
type Target struct {
	// VMI is the machine's running VMI.
	VMI *kubevirtv1.VirtualMachineInstance
	// Address is where an SSH check connects (the VMI's first IP).
	Address string
	// PrivateKey is the cluster's SSH private key (ssh strategy).
	PrivateKey []byte
}

// Checker tells whether Cluster API's sentinel file exists in the guest.
type Checker interface {
	// Check answers done=true once the sentinel is there; msg says what was seen when
	// not. err is a failure of the check itself (retried).
	Check(ctx context.Context, t Target) (done bool, msg string, err error)
}

// None trusts the guest: its bootstrap counts as done once the VMI is Ready.
type None struct{}

// Check always answers done.
func (None) Check(context.Context, Target) (bool, string, error) {
	return true, "bootstrap check strategy none", nil
}

// SSH reads the sentinel over SSH as the "capk" user, CAPK's default strategy.
type SSH struct {
	// Port is the guest's SSH port (22 when zero).
	Port int
}

// Check logs in and reads the sentinel.
func (s SSH) Check(ctx context.Context, t Target) (bool, string, error) {
	if t.Address == "" {
		return false, "the VMI reports no IP address yet", nil
	}
	signer, err := ssh.ParsePrivateKey(t.PrivateKey)
	if err != nil {
		return false, "", fmt.Errorf("the cluster's SSH private key does not parse: %w", err)
	}
	port := s.Port
	if port == 0 {
		port = 22
	}
	cfg := &ssh.ClientConfig{
		User: SSHUser,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		// The guest's host key is made at its first boot and reaches the provider by no
		// trusted path; the check only reads a file the guest itself could fake anyway.
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), //nolint:gosec // see above
		Timeout:         sshTimeout,
	}
	dialer := net.Dialer{Timeout: sshTimeout}
	conn, err := dialer.DialContext(ctx, "tcp", net.JoinHostPort(t.Address, strconv.Itoa(port)))
	if err != nil {
		return false, fmt.Sprintf("SSH to %s is not answering yet: %v", t.Address, err), nil
	}
	_ = conn.SetDeadline(time.Now().Add(sshTimeout))
	c, chans, reqs, err := ssh.NewClientConn(conn, conn.RemoteAddr().String(), cfg)
	if err != nil {
		_ = conn.Close()
		return false, fmt.Sprintf("SSH login as %s at %s failed: %v", SSHUser, t.Address, err), nil
	}
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()
	session, err := client.NewSession()
	if err != nil {
		return false, "", err
	}
	defer session.Close()
	out, err := session.Output("cat " + infrav1.BootstrapSentinelPath)
	if err != nil {
		var exit *ssh.ExitError
		if errors.As(err, &exit) {
			return false, "the sentinel " + infrav1.BootstrapSentinelPath + " is not there yet", nil
		}
		return false, "", err
	}
	if got := string(bytes.TrimSpace(out)); got != sentinelContent {
		return false, fmt.Sprintf("the sentinel says %q, not %q", got, sentinelContent), nil
	}
	return true, "the sentinel was read over SSH", nil
}

// GuestAgent reads the sentinel through the QEMU guest agent, asking virt-api's
// bootstrapstatus subresource of the VMI (virt-api -> virt-handler -> virt-launcher ->
// libvirt's agent channel): no network path to the guest, no SSH, no extra user.
type GuestAgent struct {
	// Subresources is a REST client of subresources.kubevirt.io/v1 on the infrastructure
	// cluster.
	Subresources rest.Interface
}

// Check asks virt-api.
func (g GuestAgent) Check(ctx context.Context, t Target) (bool, string, error) {
	// Do, not DoRaw: Error() decodes virt-api's Status, so its message is kept.
	res := g.Subresources.Get().Namespace(t.VMI.Namespace).Resource("virtualmachineinstances").Name(t.VMI.Name).
		SubResource("bootstrapstatus").Do(ctx)
	data, _ := res.Raw()
	if err := res.Error(); err != nil {
		return false, "", fmt.Errorf("asking virt-api for the bootstrap status of VMI %s/%s: %w", t.VMI.Namespace, t.VMI.Name, err)
	}
	status := &subresourcesv1.BootstrapStatus{}
	if err := json.Unmarshal(data, status); err != nil {
		return false, "", fmt.Errorf("virt-api's bootstrap status of VMI %s/%s does not parse: %w", t.VMI.Namespace, t.VMI.Name, err)
	}
	if !status.Succeeded {
		msg := "the sentinel " + status.SentinelPath + " is not there yet"
		if status.Message != "" {
			msg += ": " + status.Message
		}
		return false, msg, nil
	}
	return true, "the sentinel was read through the guest agent", nil
}
