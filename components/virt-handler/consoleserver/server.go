// Package consoleserver is virt-handler's HTTPS server for virt-api: it pauses and
// unpauses guests on this node and streams their serial console and VNC. Only virt-api
// may call it: clients must present a certificate from Hypernest's CA naming virt-api.
package consoleserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"google.golang.org/grpc/status"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
	"github.com/hypernest/hypernest/components/virt-handler/launcherclient"
	"github.com/hypernest/hypernest/components/virt-handler/vmi"
	"github.com/hypernest/hypernest/pkg/stream"
	"github.com/hypernest/hypernest/pkg/wiring"
)

// callTimeout bounds a pause or unpause call to the launcher.
const callTimeout = 30 * time.Second

// Server serves virt-api's calls for the VMIs of this node.
type Server struct {
	Log logr.Logger
	// Lookup finds a running VMI of this node.
	Lookup func(ctx context.Context, name types.NamespacedName) (*vmi.Running, error)
	// GetCertificate serves this node's certificate (servingcert.Source).
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	// CAFile is the CA virt-api's client certificate must chain to (wiring.HandlerCASecretName).
	CAFile string
	Addr   string

	// streams holds the open console and VNC stream of each guest (see takeOver).
	streamsMu sync.Mutex
	streams   map[socketKey]*openStream
}

// Start serves until ctx ends.
func (s *Server) Start(ctx context.Context) error {
	tlsConfig := &tls.Config{
		MinVersion: tls.VersionTLS12,
		// The CA is read at each handshake, so a rotated CA applies without a restart.
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			pool, err := s.clientCAs()
			if err != nil {
				return nil, err
			}
			return &tls.Config{
				MinVersion:            tls.VersionTLS12,
				GetCertificate:        s.GetCertificate,
				ClientAuth:            tls.RequireAndVerifyClientCert,
				ClientCAs:             pool,
				VerifyPeerCertificate: onlyClient(wiring.APIClientName),
			}, nil
		},
	}
	mux := http.NewServeMux()
	const vmiPath = "/v1/namespaces/{namespace}/virtualmachineinstances/{name}/"
	mux.HandleFunc("PUT "+vmiPath+"pause", s.pause)
	mux.HandleFunc("PUT "+vmiPath+"unpause", s.unpause)
	mux.HandleFunc("GET "+vmiPath+"console", s.socketStream(launcherv1.SerialSocket))
	mux.HandleFunc("GET "+vmiPath+"vnc", s.socketStream(launcherv1.VNCSocket))
	mux.HandleFunc("GET "+vmiPath+"guestosinfo", s.guestOSInfo)
	mux.HandleFunc("GET "+vmiPath+"bootstrapstatus", s.bootstrapStatus)
	mux.HandleFunc("GET "+vmiPath+"portforward/{port}/{protocol}", s.portForward)
	srv := &http.Server{Addr: s.Addr, Handler: mux, TLSConfig: tlsConfig, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	s.Log.Info("serving virt-api's console and pause calls", "addr", s.Addr)
	if err := srv.ListenAndServeTLS("", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) clientCAs() (*x509.CertPool, error) {
	data, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("no CA certificate in %s", s.CAFile)
	}
	return pool, nil
}

// onlyClient accepts a verified client certificate only when it names commonName.
func onlyClient(commonName string) func([][]byte, [][]*x509.Certificate) error {
	return func(_ [][]byte, chains [][]*x509.Certificate) error {
		for _, chain := range chains {
			if len(chain) > 0 && chain[0].Subject.CommonName == commonName {
				return nil
			}
		}
		return fmt.Errorf("only %s may call virt-handler", commonName)
	}
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) *vmi.Running {
	name := types.NamespacedName{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
	running, err := s.Lookup(r.Context(), name)
	if err != nil {
		code := http.StatusConflict
		if apierrors.IsNotFound(err) {
			code = http.StatusNotFound
		}
		http.Error(w, err.Error(), code)
		return nil
	}
	return running
}

func (s *Server) pause(w http.ResponseWriter, r *http.Request) {
	running := s.lookup(w, r)
	if running == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	if _, err := running.Launcher.Pause(ctx, &launcherv1.Empty{}); err != nil {
		http.Error(w, "pausing the guest: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.Log.Info("paused", "vmi", r.PathValue("namespace")+"/"+r.PathValue("name"))
	w.WriteHeader(http.StatusOK)
}

func (s *Server) unpause(w http.ResponseWriter, r *http.Request) {
	running := s.lookup(w, r)
	if running == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	if _, err := running.Launcher.Unpause(ctx, &launcherv1.Empty{}); err != nil {
		http.Error(w, "unpausing the guest: "+err.Error(), http.StatusInternalServerError)
		return
	}
	s.Log.Info("unpaused", "vmi", r.PathValue("namespace")+"/"+r.PathValue("name"))
	w.WriteHeader(http.StatusOK)
}

// guestOSInfo answers with what the guest agent reports (a kubevirt.io/v1
// VirtualMachineInstanceGuestAgentInfo); 409 while no agent is connected.
func (s *Server) guestOSInfo(w http.ResponseWriter, r *http.Request) {
	running := s.lookup(w, r)
	if running == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	res, err := running.Launcher.GuestAgentInfo(ctx, &launcherv1.Empty{})
	if err != nil {
		http.Error(w, agentError(err), http.StatusConflict)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(res.Info)
}

// bootstrapStatus answers whether Cluster API's bootstrap sentinel exists in the guest
// (a subresources.kubevirt.io/v1 BootstrapStatus); 409 while no agent is connected.
func (s *Server) bootstrapStatus(w http.ResponseWriter, r *http.Request) {
	running := s.lookup(w, r)
	if running == nil {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), callTimeout)
	defer cancel()
	res, err := running.Launcher.BootstrapSentinel(ctx, &launcherv1.Empty{})
	if err != nil {
		http.Error(w, agentError(err), http.StatusConflict)
		return
	}
	out := subresourcesv1.BootstrapStatus{SentinelPath: subresourcesv1.BootstrapSentinelPath}
	out.Kind, out.APIVersion = "BootstrapStatus", subresourcesv1.SchemeGroupVersion.String()
	content := strings.TrimSpace(res.Content)
	switch {
	case !res.Found:
		out.Message = "the file does not exist yet"
	case content != "success":
		out.Message = fmt.Sprintf("the file says %q, not \"success\"", content)
	default:
		out.Succeeded = true
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(out)
}

// agentError is a launcher's gRPC error as its message alone.
func agentError(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}

// socketKey names one of a guest's single-client sockets.
type socketKey struct {
	uid    types.UID
	socket string
}

// openStream is a console or VNC stream being relayed, from before it dials the guest's
// socket until it ends.
type openStream struct {
	mu       sync.Mutex
	ws       *stream.Conn
	conn     net.Conn
	replaced bool
}

// replace ends the stream because a newer one took over; closing it with
// stream.CloseTakenOver tells virt-api, and so virtctl, why (virtctl then does not
// reconnect). A stream still connecting finds out in attach.
func (o *openStream) replace(socket string) {
	o.mu.Lock()
	o.replaced = true
	ws, conn := o.ws, o.conn
	o.mu.Unlock()
	if ws != nil {
		endTakenOver(ws, conn, socket)
	}
}

// attach records the connected ends; false when a newer stream took over meanwhile.
func (o *openStream) attach(ws *stream.Conn, conn net.Conn) bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.replaced {
		return false
	}
	o.ws, o.conn = ws, conn
	return true
}

// endTakenOver closes a relayed stream that a newer one replaced: the close frame first,
// so virt-api reads why before the end of the stream, then the guest's socket.
func endTakenOver(ws *stream.Conn, conn net.Conn, socket string) {
	_ = ws.CloseWith(stream.CloseTakenOver, "a newer connection to the guest's "+socket+" took over")
	_ = conn.Close()
}

// takeOver registers a new stream to the guest's socket and ends the one open before:
// QEMU serves its serial port and VNC to one client at a time, so a connection whose
// client vanished without closing (a killed virt-api, a lost network path) would
// otherwise starve every later one. As in KubeVirt's virt-handler, the newest wins. It
// returns whether one was replaced, and a function that unregisters the new stream.
func (s *Server) takeOver(key socketKey, open *openStream) (replaced bool, release func()) {
	s.streamsMu.Lock()
	if s.streams == nil {
		s.streams = map[socketKey]*openStream{}
	}
	previous := s.streams[key]
	s.streams[key] = open
	s.streamsMu.Unlock()
	if previous != nil {
		previous.replace(key.socket)
	}
	return previous != nil, func() {
		s.streamsMu.Lock()
		defer s.streamsMu.Unlock()
		if s.streams[key] == open {
			delete(s.streams, key)
		}
	}
}

// socketStream connects a WebSocket to one of the launcher's sockets (QEMU serves the
// serial port and VNC there, one client at a time).
func (s *Server) socketStream(socket string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		running := s.lookup(w, r)
		if running == nil {
			return
		}
		log := s.Log.WithValues("vmi", r.PathValue("namespace")+"/"+r.PathValue("name"), "socket", socket)
		open := &openStream{}
		// Before dialing: QEMU accepts the next client only once the one before has left.
		replaced, release := s.takeOver(socketKey{uid: running.VMI.UID, socket: socket}, open)
		defer release()
		if replaced {
			log.Info("a newer connection took over the stream")
		}
		conn, err := launcherclient.DialUnix(r.Context(), filepath.Join(running.SocketsDir, socket))
		if err != nil {
			http.Error(w, fmt.Sprintf("connecting to the guest's %s: %v", socket, err), http.StatusBadGateway)
			return
		}
		ws, err := stream.Upgrader.Upgrade(w, r, nil)
		if err != nil {
			_ = conn.Close()
			return // the upgrader answered the client
		}
		client := stream.NewConn(ws)
		if !open.attach(client, conn) {
			endTakenOver(client, conn, socket)
			return
		}
		log.Info("stream opened")
		if err := stream.Pipe(client, conn); err != nil {
			log.Info("stream ended", "error", err.Error())
			return
		}
		log.Info("stream closed")
	}
}

// portForwardDialTimeout bounds the connection to the guest's port; a guest that is up
// answers (or refuses) within milliseconds, one that is not listening in seconds.
const portForwardDialTimeout = 10 * time.Second

// portForward connects a WebSocket to a TCP or UDP port of the guest, through the pod's IP: the
// path a Service takes (masquerade forwards it to the guest, bridge gives the guest the
// IP), so a port-forward reaches exactly what a pod could.
func (s *Server) portForward(w http.ResponseWriter, r *http.Request) {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil || port < 1 || port > 65535 {
		http.Error(w, fmt.Sprintf("port %q: must be a number from 1 to 65535", r.PathValue("port")), http.StatusBadRequest)
		return
	}
	protocol := r.PathValue("protocol")
	if protocol != "tcp" && protocol != "udp" {
		http.Error(w, fmt.Sprintf("protocol %q: must be tcp or udp", protocol), http.StatusBadRequest)
		return
	}
	running := s.lookup(w, r)
	if running == nil {
		return
	}
	ip := podNetworkIP(running.VMI)
	if ip == "" {
		http.Error(w, "the VMI has no pod network address yet: wait until status.interfaces shows one", http.StatusConflict)
		return
	}
	dialer := net.Dialer{Timeout: portForwardDialTimeout}
	// For UDP this only binds a socket to the guest's address: nothing is sent yet.
	conn, err := dialer.DialContext(r.Context(), protocol, net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		http.Error(w, fmt.Sprintf("connecting to port %d of the guest: %v", port, err), http.StatusBadGateway)
		return
	}
	ws, err := stream.Upgrader.Upgrade(w, r, nil)
	if err != nil {
		_ = conn.Close()
		return
	}
	log := s.Log.WithValues("vmi", r.PathValue("namespace")+"/"+r.PathValue("name"), "port", port, "protocol", protocol)
	log.Info("port-forward opened")
	pipe := stream.Pipe
	if protocol == "udp" {
		pipe = stream.PipeDatagrams
	}
	if err := pipe(stream.NewConn(ws), conn); err != nil {
		log.Info("port-forward ended", "error", err.Error())
		return
	}
	log.Info("port-forward closed")
}

// podNetworkIP is the VMI's address on the pod network (its first interface with one).
func podNetworkIP(vmi *v1.VirtualMachineInstance) string {
	podNetworks := map[string]bool{}
	for _, n := range vmi.Spec.Networks {
		podNetworks[n.Name] = n.Pod != nil
	}
	for _, iface := range vmi.Status.Interfaces {
		if iface.IP != "" && (podNetworks[iface.Name] || len(vmi.Spec.Networks) == 0) {
			return iface.IP
		}
	}
	return ""
}
