package cmd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/transport/websocket"
	"k8s.io/streaming/pkg/httpstream"

	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
	"github.com/hypernest/hypernest/pkg/stream"
)

// retryInterval is how often a console or VNC connection is retried while the VMI is
// not running yet (e.g. right after virtctl start).
const retryInterval = 2 * time.Second

// openStream opens the VMI's console or VNC WebSocket through the API server, with the
// kubeconfig's credentials (certificates, tokens, exec plugins, impersonation). While
// the VMI is not running, or its node's virt-handler is restarting, it retries until
// timeout.
func openStream(ctx context.Context, cfg *clientConfig, name, kind string, timeout time.Duration) (io.ReadWriteCloser, error) {
	ns, err := cfg.namespace()
	if err != nil {
		return nil, err
	}
	restConfig, err := cfg.restConfig()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(timeout)
	for {
		conn, err := dialStream(ctx, restConfig, ns, name, kind)
		if err == nil {
			return conn, nil
		}
		// Conflict: the VMI does not run yet. ServiceUnavailable: virt-api or the node's
		// virt-handler is (re)starting. Both pass; anything else is for the user.
		if !(apierrors.IsConflict(err) || apierrors.IsServiceUnavailable(err)) || time.Now().After(deadline) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(retryInterval):
		}
	}
}

func dialStream(ctx context.Context, restConfig *rest.Config, ns, name, kind string) (io.ReadWriteCloser, error) {
	return dialSubresource(ctx, restConfig, ns, "virtualmachineinstances", name, kind)
}

// dialSubresource opens a WebSocket subresource (console, vnc, portforward/...) of a VMI
// or VM through the API server.
func dialSubresource(ctx context.Context, restConfig *rest.Config, ns, resource, name, kind string) (io.ReadWriteCloser, error) {
	base, err := url.Parse(restConfig.Host)
	if err != nil {
		return nil, err
	}
	base.Path = fmt.Sprintf("/apis/%s/namespaces/%s/%s/%s/%s", subresourcesv1.SchemeGroupVersion, ns, resource, name, kind)
	rt, holder, err := websocket.RoundTripperFor(restConfig)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base.String(), nil)
	if err != nil {
		return nil, err
	}
	ws, err := websocket.Negotiate(rt, holder, req, stream.Subprotocol)
	if err != nil {
		return nil, statusFromUpgradeError(err)
	}
	return stream.NewConn(ws), nil
}

// statusFromUpgradeError recovers the API server's Status from a failed upgrade, so the
// user reads "VMI is not running" rather than a handshake error.
func statusFromUpgradeError(err error) error {
	var upgradeErr *httpstream.UpgradeFailureError
	if errors.As(err, &upgradeErr) && upgradeErr.Cause != nil {
		return upgradeErr.Cause
	}
	return err
}
