package capk_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	. "github.com/onsi/ginkgo/v2"
	"golang.org/x/crypto/ssh"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/client-go/rest"

	infrav1 "github.com/hypernest/hypernest/api/infrastructure/v1alpha1"
	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
)

// fakeVirtAPI answers GET .../virtualmachineinstances/<name>/bootstrapstatus the way
// virt-api does, from a per-VMI answer the test sets; the functional tests ask the real
// virt-api, which reads the guest through its agent.
type fakeVirtAPI struct {
	mu       sync.Mutex
	srv      *httptest.Server
	done     map[string]bool // by namespace/name
	requests int
}

func (f *fakeVirtAPI) set(namespace, name string, done bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.done == nil {
		f.done = map[string]bool{}
	}
	f.done[namespace+"/"+name] = done
}

func (f *fakeVirtAPI) asked() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *fakeVirtAPI) client() (rest.Interface, error) {
	f.mu.Lock()
	if f.srv == nil {
		f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
		DeferCleanup(f.srv.Close)
	}
	url := f.srv.URL
	f.mu.Unlock()
	return rest.RESTClientFor(&rest.Config{Host: url, APIPath: "/apis", ContentConfig: rest.ContentConfig{
		GroupVersion:         &subresourcesv1.SchemeGroupVersion,
		NegotiatedSerializer: serializer.NewCodecFactory(runtime.NewScheme()).WithoutConversion(),
	}})
}

func (f *fakeVirtAPI) serve(w http.ResponseWriter, r *http.Request) {
	// /apis/subresources.kubevirt.io/v1/namespaces/<ns>/virtualmachineinstances/<name>/bootstrapstatus
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(parts) != 8 || parts[5] != "virtualmachineinstances" || parts[7] != "bootstrapstatus" {
		http.NotFound(w, r)
		return
	}
	f.mu.Lock()
	f.requests++
	done := f.done[parts[4]+"/"+parts[6]]
	f.mu.Unlock()
	status := subresourcesv1.BootstrapStatus{SentinelPath: infrav1.BootstrapSentinelPath, Succeeded: done}
	status.Kind, status.APIVersion = "BootstrapStatus", subresourcesv1.SchemeGroupVersion.String()
	if !done {
		status.Message = "no such file"
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(status)
}

// sshServer is an SSH server standing in for a guest's sshd: it lets in the "capk" user
// with an authorized key and answers `cat <sentinel>` with "success" once the test says
// the sentinel exists.
type sshServer struct {
	listener   net.Listener
	mu         sync.Mutex
	authorized map[string]bool // marshalled public keys
	sentinel   bool
	logins     int
}

func startSSHServer() *sshServer {
	_, hostKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		panic(err)
	}
	signer, err := ssh.NewSignerFromKey(hostKey)
	if err != nil {
		panic(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	s := &sshServer{listener: l, authorized: map[string]bool{}}
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(meta ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
		s.mu.Lock()
		defer s.mu.Unlock()
		if meta.User() == "capk" && s.authorized[string(key.Marshal())] {
			s.logins++
			return &ssh.Permissions{}, nil
		}
		return nil, errUnauthorized
	}}
	cfg.AddHostKey(signer)
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go s.handle(conn, cfg)
		}
	}()
	return s
}

var errUnauthorized = &net.AddrError{Err: "unauthorized"}

func (s *sshServer) Port() int { return s.listener.Addr().(*net.TCPAddr).Port }
func (s *sshServer) Close()    { _ = s.listener.Close() }

func (s *sshServer) authorize(authorizedKey []byte) {
	key, _, _, _, err := ssh.ParseAuthorizedKey(authorizedKey)
	if err != nil {
		panic(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.authorized[string(key.Marshal())] = true
}

func (s *sshServer) setSentinel(v bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sentinel = v
}

func (s *sshServer) loginCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.logins
}

func (s *sshServer) handle(conn net.Conn, cfg *ssh.ServerConfig) {
	_, chans, reqs, err := ssh.NewServerConn(conn, cfg)
	if err != nil {
		_ = conn.Close()
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			_ = nc.Reject(ssh.UnknownChannelType, "only sessions")
			continue
		}
		ch, requests, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer ch.Close()
			for req := range requests {
				if req.Type != "exec" {
					_ = req.Reply(false, nil)
					continue
				}
				_ = req.Reply(true, nil)
				var payload struct{ Command string }
				_ = ssh.Unmarshal(req.Payload, &payload)
				s.mu.Lock()
				present := s.sentinel
				s.mu.Unlock()
				code := uint32(1)
				if payload.Command == "cat "+infrav1.BootstrapSentinelPath && present {
					_, _ = ch.Write([]byte("success"))
					code = 0
				} else {
					_, _ = ch.Stderr().Write([]byte("cat: " + infrav1.BootstrapSentinelPath + ": No such file or directory\n"))
				}
				var status bytes.Buffer
				_ = binary.Write(&status, binary.BigEndian, code)
				_, _ = ch.SendRequest("exit-status", false, status.Bytes())
				return
			}
		}()
	}
}
