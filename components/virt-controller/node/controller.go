// Package node is virt-controller's node controller: it reads the heartbeat virt-handler
// stamps on its node and, when a node's handler stopped beating, marks the node
// unschedulable for VMIs and fails the VMIs there whose launcher pod is gone, so a VM
// with runStrategy Always or RerunOnFailure starts again on another node. As in
// KubeVirt (docs/live-migration.md §7), a VMI whose pod still exists in the API is left
// alone: the guest may still run on a node that only lost touch, and failing its VMI
// would start a second copy of the guest. The pod goes when the node is back, when an
// administrator deletes it or the node, or when the node gets Kubernetes'
// node.kubernetes.io/out-of-service taint (non-graceful node shutdown).
package node

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	k8sv1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/record"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/pkg/metrics"
)

// HeartbeatTimeout is how old a node's heartbeat may be before its virt-handler counts
// as gone: KubeVirt's five minutes (its handler beats every 1 to 2.2 min; Hypernest's
// every 30 s, components/virt-handler/heartbeat).
const HeartbeatTimeout = 5 * time.Minute

// recheck is how often a node with VMIs is looked at again when nothing changes
// (KubeVirt's node controller: one minute).
const recheck = time.Minute

// ReasonNodeUnresponsive is KubeVirt's reason on the node's event and on the VMIs it
// fails; monitoring and runbooks match it.
const ReasonNodeUnresponsive = "NodeUnresponsive"

// Reconciler watches the handlers' heartbeats.
type Reconciler struct {
	client.Client
	Recorder record.EventRecorder
	// Now is the clock (tests move it).
	Now func() time.Time
}

// SetupWithManager registers the controller: nodes, the VMIs on them (a VMI scheduled to
// a node that is already dead is failed without waiting for the recheck) and their
// launcher pods (a pod that goes from a dead node fails its VMI at once).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager, workers int) error {
	if r.Now == nil {
		r.Now = time.Now
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("node").
		For(&k8sv1.Node{}).
		Watches(&v1.VirtualMachineInstance{}, handler.EnqueueRequestsFromMapFunc(nodeOfVMI)).
		Watches(&k8sv1.Pod{}, handler.EnqueueRequestsFromMapFunc(nodeOfPod)).
		WithOptions(controller.Options{MaxConcurrentReconciles: workers, NewQueue: metrics.Queue[reconcile.Request]("virt-controller-node")}).
		Complete(r)
}

func nodeOfVMI(_ context.Context, o client.Object) []reconcile.Request {
	node := o.GetLabels()[v1.NodeNameLabel]
	if node == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: node}}}
}

// nodeOfPod: the cache holds launcher pods only (virt-controller's main).
func nodeOfPod(_ context.Context, o client.Object) []reconcile.Request {
	pod, ok := o.(*k8sv1.Pod)
	if !ok || pod.Spec.NodeName == "" {
		return nil
	}
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: pod.Spec.NodeName}}}
}

// Reconcile checks one node's heartbeat and acts on a node whose handler is gone.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	node := &k8sv1.Node{}
	if err := r.Get(ctx, req.NamespacedName, node); apierrors.IsNotFound(err) {
		node = nil // a deleted node has no handler either
	} else if err != nil {
		return ctrl.Result{}, err
	}
	vmis, err := r.vmisOn(ctx, req.Name)
	if err != nil {
		return ctrl.Result{}, err
	}

	stale, wait, err := r.unresponsive(node)
	if err != nil {
		log.FromContext(ctx).Error(err, "reading the node's heartbeat; it counts as alive")
	}
	if !stale {
		// Every heartbeat wakes the node; a handler that stopped beating does not, so
		// look again when the last beat goes stale (wait is 0 for a node without one).
		return ctrl.Result{RequeueAfter: wait}, nil
	}

	if node != nil && node.Labels[v1.NodeSchedulable] == "true" {
		patch := client.MergeFrom(node.DeepCopy())
		node.Labels[v1.NodeSchedulable] = "false"
		if err := r.Patch(ctx, node, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("marking the node unschedulable: %w", err)
		}
		r.Recorder.Event(node, k8sv1.EventTypeNormal, ReasonNodeUnresponsive, "virt-handler is not responsive, marking node as unresponsive")
	}
	for i := range vmis {
		if err := r.failIfPodGone(ctx, &vmis[i], req.Name); err != nil {
			return ctrl.Result{}, err
		}
	}
	if len(vmis) == 0 {
		return ctrl.Result{}, nil
	}
	// The VMIs left have a pod still; look again as they go.
	return ctrl.Result{RequeueAfter: recheck}, nil
}

// unresponsive tells whether the node's handler stopped beating; when it has not, wait
// is how long until its heartbeat would be stale. A node without a heartbeat (no handler
// ever ran there) counts as alive, as in KubeVirt: nothing of Hypernest's runs there.
func (r *Reconciler) unresponsive(node *k8sv1.Node) (stale bool, wait time.Duration, err error) {
	if node == nil {
		return true, 0, nil
	}
	value, ok := node.Annotations[v1.VirtHandlerHeartbeat]
	if !ok {
		return false, 0, nil
	}
	var beat time.Time
	// The handler writes RFC 3339; KubeVirt's writes a JSON-quoted time: read both.
	if err := json.Unmarshal([]byte(value), &beat); err != nil {
		if beat, err = time.Parse(time.RFC3339, value); err != nil {
			return false, recheck, fmt.Errorf("annotation %s=%q is not an RFC 3339 time: %w", v1.VirtHandlerHeartbeat, value, err)
		}
	}
	age := r.Now().Sub(beat)
	if age > HeartbeatTimeout {
		return true, 0, nil
	}
	// A second past the deadline, so the recheck finds it stale.
	return false, HeartbeatTimeout - age + time.Second, nil
}

// vmisOn lists the Scheduled and Running VMIs on the node.
func (r *Reconciler) vmisOn(ctx context.Context, node string) ([]v1.VirtualMachineInstance, error) {
	list := &v1.VirtualMachineInstanceList{}
	if err := r.List(ctx, list, client.MatchingLabels{v1.NodeNameLabel: node}); err != nil {
		return nil, err
	}
	var on []v1.VirtualMachineInstance
	for _, vmi := range list.Items {
		if (vmi.Status.Phase == v1.Scheduled || vmi.Status.Phase == v1.Running) && vmi.Status.NodeName == node {
			on = append(on, vmi)
		}
	}
	return on, nil
}

// failIfPodGone fails a VMI of a dead node that has no live launcher pod there.
func (r *Reconciler) failIfPodGone(ctx context.Context, vmi *v1.VirtualMachineInstance, node string) error {
	pods := &k8sv1.PodList{}
	if err := r.List(ctx, pods, client.InNamespace(vmi.Namespace), client.MatchingLabels{v1.CreatedByLabel: string(vmi.UID)}); err != nil {
		return err
	}
	for i := range pods.Items {
		if livePodOn(&pods.Items[i], node) {
			return nil
		}
	}
	base := vmi.DeepCopy()
	v1.FinishVMI(&vmi.Status, v1.Failed, ReasonNodeUnresponsive)
	// The resourceVersion makes a status the handler wrote meanwhile win: the VMI is
	// looked at again.
	if err := r.Status().Patch(ctx, vmi, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
		return client.IgnoreNotFound(err)
	}
	r.Recorder.Eventf(vmi, k8sv1.EventTypeNormal, ReasonNodeUnresponsive, "virt-handler on node %s is not responsive, marking VMI as failed", node)
	return nil
}

// livePodOn: a pod on node that may still run the guest: not ended, and not every
// container terminated (a Terminating pod on a dead node stays live, as in KubeVirt).
func livePodOn(pod *k8sv1.Pod, node string) bool {
	if pod.Spec.NodeName != node || pod.Status.Phase == k8sv1.PodSucceeded || pod.Status.Phase == k8sv1.PodFailed {
		return false
	}
	statuses := pod.Status.ContainerStatuses
	if len(statuses) == 0 {
		return true
	}
	for _, cs := range statuses {
		if cs.State.Terminated == nil {
			return true
		}
	}
	return false
}
