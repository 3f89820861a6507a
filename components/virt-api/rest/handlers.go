// Package rest serves subresources.kubevirt.io/v1, which the Kubernetes API server's
// aggregation layer forwards to virt-api: VM start, stop, restart, migrate and
// evacuate/cancel, and VMI pause, unpause, evacuate/cancel, console and VNC. Every call is authenticated as coming through the API
// server and authorised against the caller's own RBAC.
package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	k8sv1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
	"github.com/hypernest/hypernest/pkg/stream"
	"github.com/hypernest/hypernest/pkg/version"
)

// maxBody bounds an options body; the largest is a few hundred bytes.
const maxBody = 64 * 1024

// Resources as KubeVirt's error messages name them ("Operation cannot be fulfilled on
// virtualmachine.kubevirt.io ...").
var (
	vmResource  = schema.GroupResource{Group: v1.GroupName, Resource: "virtualmachine"}
	vmiResource = schema.GroupResource{Group: v1.GroupName, Resource: "virtualmachineinstance"}
)

// API serves the subresources.
type API struct {
	Log    logr.Logger
	Client client.Client
	// Reader reads the objects a call decides on from the API server, not from the
	// cache: a stop decided on a stale VM would miss the start request a restart just
	// queued, and virt-controller would then start the VM the stop halted. The VM's
	// writes are guarded by the resourceVersion read, so a view that went stale during
	// the call is refused with 409 Conflict instead of applied.
	Reader     client.Reader
	Auth       *FrontProxy
	Authorizer *Authorizer
	Handlers   *HandlerDialer
	Version    version.Info
	// Config is the KubeVirt object's configuration, read at each call (feature gates).
	Config func(context.Context) clusterconfig.Config
}

// Register adds the API's routes to mux.
func (a *API) Register(mux *http.ServeMux) {
	const prefix = "/apis/" + subresourcesv1.GroupName + "/v1"
	const vm = prefix + "/namespaces/{namespace}/virtualmachines/{name}/"
	const vmi = prefix + "/namespaces/{namespace}/virtualmachineinstances/{name}/"
	mux.HandleFunc("GET /apis/"+subresourcesv1.GroupName, a.discoveryGroup)
	mux.HandleFunc("GET "+prefix, a.discoveryResources)
	mux.HandleFunc("GET "+prefix+"/version", a.version)
	mux.HandleFunc("GET "+prefix+"/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	mux.HandleFunc("PUT "+vm+"start", a.authorized("update", "virtualmachines", "start", a.start))
	mux.HandleFunc("PUT "+vm+"stop", a.authorized("update", "virtualmachines", "stop", a.stop))
	mux.HandleFunc("PUT "+vm+"restart", a.authorized("update", "virtualmachines", "restart", a.restart))
	mux.HandleFunc("PUT "+vm+"migrate", a.authorized("update", "virtualmachines", "migrate", a.migrate))
	// evacuate/cancel: a subresource two segments deep, authorised as KubeVirt does, on
	// the whole name.
	mux.HandleFunc("PUT "+vm+"evacuate/cancel", a.authorized("update", "virtualmachines", "evacuate/cancel", a.evacuateCancelVM))
	mux.HandleFunc("PUT "+vmi+"evacuate/cancel", a.authorized("update", "virtualmachineinstances", "evacuate/cancel", a.evacuateCancelVMI))
	mux.HandleFunc("PUT "+vmi+"pause", a.authorized("update", "virtualmachineinstances", "pause", a.pause))
	mux.HandleFunc("PUT "+vmi+"unpause", a.authorized("update", "virtualmachineinstances", "unpause", a.unpause))
	mux.HandleFunc("GET "+vmi+"console", a.authorized("get", "virtualmachineinstances", "console", a.streamTo("console")))
	mux.HandleFunc("GET "+vmi+"vnc", a.authorized("get", "virtualmachineinstances", "vnc", a.streamTo("vnc")))
	// port-forward/{port}[/{protocol}]: KubeVirt's paths; the protocol defaults to tcp.
	for _, p := range []string{"portforward/{port}", "portforward/{port}/{protocol}"} {
		mux.HandleFunc("GET "+vmi+p, a.authorized("get", "virtualmachineinstances", "portforward", a.portForward))
		mux.HandleFunc("GET "+vm+p, a.authorized("get", "virtualmachines", "portforward", a.portForward))
	}
	mux.HandleFunc("GET "+vmi+"guestosinfo", a.authorized("get", "virtualmachineinstances", "guestosinfo", a.fromGuestAgent("guestosinfo")))
	mux.HandleFunc("GET "+vmi+"bootstrapstatus", a.authorized("get", "virtualmachineinstances", "bootstrapstatus",
		a.gated(clusterconfig.GuestAgentBootstrapCheck, a.fromGuestAgent("bootstrapstatus"))))
}

// gated answers 400, naming the gate, while a feature gate is off.
func (a *API) gated(gate string, next func(http.ResponseWriter, *http.Request, types.NamespacedName)) func(http.ResponseWriter, *http.Request, types.NamespacedName) {
	return func(w http.ResponseWriter, r *http.Request, name types.NamespacedName) {
		if a.Config == nil || !a.Config(r.Context()).GateEnabled(gate) {
			writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("this subresource needs the %s feature gate: add it to the KubeVirt object's spec.configuration.developerConfiguration.featureGates", gate)))
			return
		}
		next(w, r, name)
	}
}

// fromGuestAgent answers with what the VMI's virt-handler reads from the guest agent:
// 409 Conflict while the VMI does not run or no agent is connected, as KubeVirt does.
func (a *API) fromGuestAgent(kind string) func(http.ResponseWriter, *http.Request, types.NamespacedName) {
	return func(w http.ResponseWriter, r *http.Request, name types.NamespacedName) {
		vmi, err := a.runningVMI(r.Context(), name)
		if err != nil {
			writeStatus(w, asStatus(err))
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
		defer cancel()
		data, err := a.Handlers.Get(ctx, vmi, kind)
		if err != nil {
			var conflict *HandlerConflict
			if errors.As(err, &conflict) {
				writeStatus(w, apierrors.NewConflict(vmiResource, name.Name, errors.New(conflict.Message)))
				return
			}
			writeStatus(w, apierrors.NewServiceUnavailable(fmt.Sprintf("asking the %s of %s: %v", kind, name, err)))
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(data)
	}
}

// authorized wraps a handler: the front proxy vouches for the caller, and the caller's
// RBAC allows verb on the subresource.
func (a *API) authorized(verb, resource, subresource string, next func(http.ResponseWriter, *http.Request, types.NamespacedName)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := types.NamespacedName{Namespace: r.PathValue("namespace"), Name: r.PathValue("name")}
		user, err := a.Auth.Authenticate(r)
		if err != nil {
			writeStatus(w, apierrors.NewUnauthorized(err.Error()))
			return
		}
		allowed, reason, err := a.Authorizer.Allowed(r.Context(), user, verb, name.Namespace, resource, subresource, name.Name)
		if err != nil {
			writeStatus(w, apierrors.NewInternalError(fmt.Errorf("checking access: %w", err)))
			return
		}
		if !allowed {
			msg := fmt.Sprintf("User %q cannot %s resource %q in API group %q in the namespace %q", user.Name, verb, resource+"/"+subresource, subresourcesv1.GroupName, name.Namespace)
			if reason != "" {
				msg += ": " + reason
			}
			writeStatus(w, apierrors.NewForbidden(schema.GroupResource{Group: subresourcesv1.GroupName, Resource: resource + "/" + subresource}, name.Name, errors.New(msg)))
			return
		}
		a.Log.V(1).Info("call", "user", user.Name, "verb", verb, "subresource", resource+"/"+subresource, "object", name.String())
		next(w, r, name)
	}
}

// decodeBody reads an optional JSON options body into into.
func decodeBody(r *http.Request, into any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
	if err != nil {
		return err
	}
	if len(data) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return apierrors.NewBadRequest("the request body is not valid: " + err.Error())
	}
	return nil
}

func isDryRun(dryRun []string) bool {
	return len(dryRun) == 1 && dryRun[0] == metav1.DryRunAll
}

// getVMI reads the VMI, or nil when there is none.
func (a *API) getVMI(ctx context.Context, name types.NamespacedName) (*v1.VirtualMachineInstance, error) {
	vmi := &v1.VirtualMachineInstance{}
	if err := a.Reader.Get(ctx, name, vmi); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, err
	}
	return vmi, nil
}

func (a *API) pause(w http.ResponseWriter, r *http.Request, name types.NamespacedName) {
	opts := &subresourcesv1.PauseOptions{}
	if err := decodeBody(r, opts); err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	a.pauseOrUnpause(w, r, name, true, isDryRun(opts.DryRun))
}

func (a *API) unpause(w http.ResponseWriter, r *http.Request, name types.NamespacedName) {
	opts := &subresourcesv1.UnpauseOptions{}
	if err := decodeBody(r, opts); err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	a.pauseOrUnpause(w, r, name, false, isDryRun(opts.DryRun))
}

func (a *API) pauseOrUnpause(w http.ResponseWriter, r *http.Request, name types.NamespacedName, pause, dryRun bool) {
	vmi, err := a.runningVMI(r.Context(), name)
	if err != nil {
		writeStatus(w, asStatus(err))
		return
	}
	paused := false
	if c := v1.VMICondition(&vmi.Status, v1.VirtualMachineInstancePaused); c != nil && c.Status == k8sv1.ConditionTrue {
		paused = true
	}
	switch {
	case pause && paused:
		writeStatus(w, apierrors.NewConflict(vmiResource, name.Name, errors.New("VMI is already paused")))
		return
	case !pause && !paused:
		writeStatus(w, apierrors.NewConflict(vmiResource, name.Name, errors.New("VMI is not paused")))
		return
	case dryRun:
		w.WriteHeader(http.StatusOK)
		return
	}
	action := "unpause"
	if pause {
		action = "pause"
	}
	if err := a.Handlers.Put(r.Context(), vmi, action); err != nil {
		writeStatus(w, apierrors.NewInternalError(fmt.Errorf("%s: %w", action, err)))
		return
	}
	w.WriteHeader(http.StatusOK)
}

// runningVMI is the VMI when its guest runs on a node, else a Conflict naming its phase.
func (a *API) runningVMI(ctx context.Context, name types.NamespacedName) (*v1.VirtualMachineInstance, error) {
	vmi, err := a.getVMI(ctx, name)
	if err != nil {
		return nil, err
	}
	if vmi == nil {
		return nil, apierrors.NewNotFound(vmiResource, name.Name)
	}
	if vmi.Status.Phase != v1.Running {
		return nil, apierrors.NewConflict(vmiResource, name.Name, fmt.Errorf("VMI is not running (phase %q)", vmi.Status.Phase))
	}
	return vmi, nil
}

// streamTo proxies a console or VNC WebSocket to the virt-handler running the VMI.
func (a *API) streamTo(kind string) func(http.ResponseWriter, *http.Request, types.NamespacedName) {
	return func(w http.ResponseWriter, r *http.Request, name types.NamespacedName) {
		vmi, err := a.runningVMI(r.Context(), name)
		if err != nil {
			writeStatus(w, asStatus(err))
			return
		}
		// Connect to the node first, so a failure is still an HTTP error the client reads.
		dialCtx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
		backend, err := a.Handlers.Stream(dialCtx, vmi, kind)
		cancel()
		if err != nil {
			writeStatus(w, apierrors.NewServiceUnavailable(fmt.Sprintf("connecting to the %s of %s: %v", kind, name, err)))
			return
		}
		ws, err := stream.Upgrader.Upgrade(w, r, nil)
		if err != nil {
			_ = backend.Close()
			return
		}
		defer countConnection(kind, name)()
		log := a.Log.WithValues("vmi", name.String(), "stream", kind)
		log.Info("stream opened")
		pipe := stream.Pipe
		if strings.HasSuffix(kind, "/udp") {
			// Relayed message by message, so datagrams stay whole.
			pipe = stream.PipeDatagrams
		}
		if err := pipe(stream.NewConn(ws), backend); err != nil {
			log.Info("stream ended", "error", err.Error())
			return
		}
		log.Info("stream closed")
	}
}

// portForward proxies a WebSocket to a TCP or UDP port of the guest, through the
// virt-handler running it (a UDP stream carries one datagram per message, which the
// relay keeps: it writes what it reads, message by message). A VM's port-forward goes to its VMI (same name).
func (a *API) portForward(w http.ResponseWriter, r *http.Request, name types.NamespacedName) {
	port, err := strconv.Atoi(r.PathValue("port"))
	if err != nil || port < 1 || port > 65535 {
		writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("port %q: must be a number from 1 to 65535", r.PathValue("port"))))
		return
	}
	protocol := r.PathValue("protocol")
	if protocol == "" {
		protocol = "tcp"
	}
	if protocol != "tcp" && protocol != "udp" {
		writeStatus(w, apierrors.NewBadRequest(fmt.Sprintf("protocol %q: must be tcp or udp", protocol)))
		return
	}
	a.streamTo(fmt.Sprintf("portforward/%d/%s", port, protocol))(w, r, name)
}

// writeStatus answers with a Kubernetes Status, which kubectl and virtctl print.
func writeStatus(w http.ResponseWriter, err *apierrors.StatusError) {
	status := err.Status()
	status.Kind, status.APIVersion = "Status", "v1"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(int(status.Code))
	_ = json.NewEncoder(w).Encode(status)
}

func asStatus(err error) *apierrors.StatusError {
	var status *apierrors.StatusError
	if errors.As(err, &status) {
		return status
	}
	return apierrors.NewInternalError(err)
}
