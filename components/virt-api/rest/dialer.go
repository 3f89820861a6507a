package rest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/gorilla/websocket"
	k8sv1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/certwatcher"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/pkg/stream"
	"github.com/hypernest/hypernest/pkg/wiring"
)

// HandlerDialer calls the virt-handler on a VMI's node, over mutual TLS with
// Hypernest's CA: virt-api presents its own certificate, and accepts only a server
// certificate for ServerName that names the VMI's node (wiring.HandlerCommonName), so a
// virt-handler of another node (or its key) cannot answer for the VMI.
type HandlerDialer struct {
	Client client.Reader
	// Namespace and Selector find virt-handler pods.
	Namespace string
	Selector  map[string]string
	Port      int
	// ServerName is the name in every virt-handler's server certificate.
	ServerName string
	// CertDir holds virt-api's tls.crt and tls.key, and ca.crt.
	CertDir string
	Certs   *certwatcher.CertWatcher
}

func (d *HandlerDialer) tlsConfig(node string) (*tls.Config, error) {
	data, err := os.ReadFile(filepath.Join(d.CertDir, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("no CA certificate in %s", filepath.Join(d.CertDir, "ca.crt"))
	}
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    pool,
		ServerName: d.ServerName,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			return d.Certs.GetCertificate(nil)
		},
		VerifyConnection: HandlerOfNode(node),
	}, nil
}

// HandlerOfNode accepts a virt-handler's verified certificate only when it names node.
// (tls.Config.VerifyConnection runs after the chain and ServerName are verified.)
func HandlerOfNode(node string) func(tls.ConnectionState) error {
	want := wiring.HandlerCommonName(node)
	return func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 {
			return fmt.Errorf("virt-handler presented no certificate")
		}
		if got := cs.PeerCertificates[0].Subject.CommonName; got != want {
			return fmt.Errorf("the virt-handler answering for node %s presented a certificate for %q, not %q: refusing it", node, got, want)
		}
		return nil
	}
}

// address is the host:port of the virt-handler on the VMI's node.
func (d *HandlerDialer) address(ctx context.Context, vmi *v1.VirtualMachineInstance) (string, error) {
	pods := &k8sv1.PodList{}
	if err := d.Client.List(ctx, pods, client.InNamespace(d.Namespace), client.MatchingLabels(d.Selector)); err != nil {
		return "", err
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == vmi.Status.NodeName && p.Status.PodIP != "" && p.DeletionTimestamp == nil && p.Status.Phase == k8sv1.PodRunning {
			return net.JoinHostPort(p.Status.PodIP, strconv.Itoa(d.Port)), nil
		}
	}
	return "", fmt.Errorf("no running virt-handler on node %q: check the virt-handler DaemonSet in namespace %s", vmi.Status.NodeName, d.Namespace)
}

func vmiPath(vmi *v1.VirtualMachineInstance, action string) string {
	return "/v1/namespaces/" + vmi.Namespace + "/virtualmachineinstances/" + vmi.Name + "/" + action
}

// call makes one HTTPS call to the VMI's virt-handler and returns the answer's status
// and body (small JSON documents or plain errors).
func (d *HandlerDialer) call(ctx context.Context, vmi *v1.VirtualMachineInstance, method, action string) (int, []byte, error) {
	addr, err := d.address(ctx, vmi)
	if err != nil {
		return 0, nil, err
	}
	cfg, err := d.tlsConfig(vmi.Status.NodeName)
	if err != nil {
		return 0, nil, err
	}
	httpClient := &http.Client{Transport: &http.Transport{TLSClientConfig: cfg}, Timeout: time.Minute}
	defer httpClient.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, method, "https://"+addr+vmiPath(vmi, action), nil)
	if err != nil {
		return 0, nil, err
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	// A guest's OS, users and file systems fit in far less.
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, body, err
}

// Put makes a PUT call (pause, unpause) to the VMI's virt-handler.
func (d *HandlerDialer) Put(ctx context.Context, vmi *v1.VirtualMachineInstance, action string) error {
	code, body, err := d.call(ctx, vmi, http.MethodPut, action)
	if err != nil {
		return err
	}
	if code != http.StatusOK {
		return fmt.Errorf("virt-handler answered %d %s: %s", code, http.StatusText(code), strings.TrimSpace(string(body)))
	}
	return nil
}

// HandlerConflict is virt-handler's 409 answer: the guest cannot answer that now (no
// guest agent connected, say).
type HandlerConflict struct{ Message string }

func (e *HandlerConflict) Error() string { return e.Message }

// Get makes a GET call (guestosinfo, bootstrapstatus) to the VMI's virt-handler and
// returns the answer's body.
func (d *HandlerDialer) Get(ctx context.Context, vmi *v1.VirtualMachineInstance, action string) ([]byte, error) {
	code, body, err := d.call(ctx, vmi, http.MethodGet, action)
	switch {
	case err != nil:
		return nil, err
	case code == http.StatusOK:
		return body, nil
	case code == http.StatusConflict:
		return nil, &HandlerConflict{Message: strings.TrimSpace(string(body))}
	}
	return nil, fmt.Errorf("virt-handler answered %d %s: %s", code, http.StatusText(code), strings.TrimSpace(string(body)))
}

// Stream opens the VMI's console or VNC stream at its virt-handler.
func (d *HandlerDialer) Stream(ctx context.Context, vmi *v1.VirtualMachineInstance, kind string) (io.ReadWriteCloser, error) {
	addr, err := d.address(ctx, vmi)
	if err != nil {
		return nil, err
	}
	cfg, err := d.tlsConfig(vmi.Status.NodeName)
	if err != nil {
		return nil, err
	}
	dialer := websocket.Dialer{TLSClientConfig: cfg, Subprotocols: []string{stream.Subprotocol}, HandshakeTimeout: 30 * time.Second}
	ws, resp, err := dialer.DialContext(ctx, "wss://"+addr+vmiPath(vmi, kind), nil)
	if err != nil {
		if resp != nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			return nil, fmt.Errorf("virt-handler answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
		}
		return nil, err
	}
	return stream.NewConn(ws), nil
}
