package controllers

import (
	"context"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cluster-api/util"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubevirtv1 "github.com/hypernest/hypernest/api/core/v1"
	infrav1 "github.com/hypernest/hypernest/api/infrastructure/v1alpha1"
	"github.com/hypernest/hypernest/components/capk-manager/vm"
	"github.com/hypernest/hypernest/pkg/clusterconfig"
)

// evacuationGrace is how long the machine's Node in the nested cluster may take to drain
// before its VMI is deleted anyway: CAPK's vmiDeleteGraceTimeoutDurationSeconds (10 min).
// A PodDisruptionBudget in the nested cluster that never allows an eviction must not hold
// the infrastructure node's drain for ever.
const evacuationGrace = 10 * time.Minute

// drainRecheck is how often a draining nested node is looked at again: kubectl drain
// retries a refused eviction every 5 s.
const drainRecheck = 5 * time.Second

// CordonedBootIDAnnotation on a KubevirtMachine records the boot ID of the machine's
// Node in the nested cluster when the provider cordoned it to move the VMI off a drained
// infrastructure node. The provider uncordons the Node once it is Ready with another boot
// ID (the guest started again elsewhere and its kubelet came back), and only then: a Node
// someone else cordoned is left as it is.
const CordonedBootIDAnnotation = "capk.hypernest.io/cordoned-boot-id"

// evacuate moves the machine off an infrastructure node that is being drained, when its
// VMI's evictionStrategy is External (CAPK's DrainNodeIfNeeded): virt-api refused the
// eviction of the VMI's pod and marked the VMI with status.evacuationNodeName. The
// provider drains the machine's Node in the nested cluster (cordon, then evict its pods
// but DaemonSets' and static ones), then deletes the VMI; its VM (runStrategy Always)
// starts it again on a node that is not cordoned. The drain gets evacuationGrace, kept in
// CAPK's vmi-deletion-grace-time annotation so a restart of the provider keeps it.
// While this goes on the machine stays as it was (Ready): the guest still runs.
func (r *MachineReconciler) evacuate(ctx context.Context, s *machineScope) (bool, ctrl.Result, error) {
	infraNode, requested := "", false
	if s.vmi != nil && s.vmi.Status.EvacuationNodeName != "" {
		clusterDefault, err := clusterEvictionStrategy(ctx, s.infra)
		if err != nil {
			return false, ctrl.Result{}, err
		}
		infraNode, requested = vm.EvacuationRequested(s.vmi, clusterDefault)
	}
	if !requested {
		delete(s.km.Annotations, infrav1.VmiDeletionGraceTime)
		return true, ctrl.Result{}, nil
	}
	nodeName := nestedNodeName(s)
	deadline, err := time.Parse(time.RFC3339, s.km.Annotations[infrav1.VmiDeletionGraceTime])
	if err != nil {
		// Absent, or not a time (written by hand): the grace period starts now, as CAPK's.
		deadline = time.Now().Add(evacuationGrace).UTC()
		setAnnotation(s.km, infrav1.VmiDeletionGraceTime, deadline.Format(time.RFC3339))
		r.Recorder.Eventf(s.km, corev1.EventTypeNormal, "Evacuating",
			"Infrastructure node %s is drained and VMI %s/%s has evictionStrategy External: draining Node %s of the nested cluster, then deleting the VMI so that its VM starts it on another node (at the latest at %s)",
			infraNode, s.vmi.Namespace, s.vmi.Name, nodeName, deadline.Format(time.RFC3339))
	}
	if time.Now().Before(deadline) {
		drained, waiting, err := r.drainNestedNode(ctx, s, nodeName)
		log := ctrl.LoggerFrom(ctx).WithValues("node", nodeName, "infraNode", infraNode)
		if err != nil {
			log.Info("cannot drain the nested cluster's node yet; retrying until the grace time", "error", err.Error(), "graceTime", deadline)
			return false, ctrl.Result{RequeueAfter: min(drainRecheck, time.Until(deadline))}, nil
		}
		if !drained {
			log.Info("draining the nested cluster's node", "waitingFor", waiting, "graceTime", deadline)
			return false, ctrl.Result{RequeueAfter: min(drainRecheck, time.Until(deadline))}, nil
		}
	} else {
		r.Recorder.Eventf(s.km, corev1.EventTypeWarning, "EvacuationGraceExpired",
			"Node %s of the nested cluster did not drain by %s: deleting VMI %s/%s anyway", nodeName, deadline.Format(time.RFC3339), s.vmi.Namespace, s.vmi.Name)
	}
	if err := s.infra.Delete(ctx, s.vmi, client.PropagationPolicy(metav1.DeletePropagationForeground),
		client.Preconditions{UID: ptr.To(s.vmi.UID)}); err != nil && !apierrors.IsNotFound(err) {
		return false, ctrl.Result{}, fmt.Errorf("deleting VMI %s/%s to move it off node %s: %w", s.vmi.Namespace, s.vmi.Name, infraNode, err)
	}
	r.Recorder.Eventf(s.km, corev1.EventTypeNormal, "VMIDeleted",
		"Deleted VMI %s/%s to move it off infrastructure node %s; its VM starts it again on another node", s.vmi.Namespace, s.vmi.Name, infraNode)
	delete(s.km.Annotations, infrav1.VmiDeletionGraceTime)
	// The VMI's deletion and its successor wake the reconciler; this is a backstop.
	return false, ctrl.Result{RequeueAfter: waitRequeue}, nil
}

// drainNestedNode cordons the machine's Node in the nested cluster and evicts its pods,
// as kubectl drain --ignore-daemonsets --delete-emptydir-data --force does: DaemonSets'
// and static pods stay, pods without a controller go too. A refused eviction (a
// PodDisruptionBudget) is tried again at the next look. drained is true once no pod that
// must leave is left (a Node not registered, or a cluster whose control plane is not
// initialized, has none); waiting names what is left.
func (r *MachineReconciler) drainNestedNode(ctx context.Context, s *machineScope, nodeName string) (drained bool, waiting string, err error) {
	if !ptr.Deref(s.cluster.Status.Initialization.ControlPlaneInitialized, false) {
		return true, "", nil
	}
	config, err := workloadConfig(ctx, r.Client, util.ObjectKey(s.cluster))
	if err != nil {
		return false, "", fmt.Errorf("reaching the nested cluster: %w", err)
	}
	wc, err := client.New(config, client.Options{})
	if err != nil {
		return false, "", err
	}
	// Evictions go through a REST client of their own: a refusal is a 429 with a
	// Retry-After, which client-go would otherwise retry inside the call until its
	// timeout instead of answering.
	core, err := corev1client.NewForConfig(config)
	if err != nil {
		return false, "", err
	}
	node := &corev1.Node{}
	if err := wc.Get(ctx, client.ObjectKey{Name: nodeName}, node); apierrors.IsNotFound(err) {
		return true, "", nil
	} else if err != nil {
		return false, "", fmt.Errorf("reading Node %s: %w", nodeName, err)
	}
	if !node.Spec.Unschedulable {
		patch := client.MergeFrom(node.DeepCopy())
		node.Spec.Unschedulable = true
		if err := wc.Patch(ctx, node, patch); err != nil {
			return false, "", fmt.Errorf("cordoning Node %s: %w", nodeName, err)
		}
		setAnnotation(s.km, CordonedBootIDAnnotation, node.Status.NodeInfo.BootID)
		r.Recorder.Eventf(s.km, corev1.EventTypeNormal, "NodeCordoned", "Cordoned Node %s of the nested cluster", nodeName)
	}
	pods := &corev1.PodList{}
	if err := wc.List(ctx, pods, client.MatchingFields{"spec.nodeName": nodeName}); err != nil {
		return false, "", fmt.Errorf("listing the pods of Node %s: %w", nodeName, err)
	}
	var left []string
	var errs []error
	for i := range pods.Items {
		pod := &pods.Items[i]
		if !mustLeaveNode(pod) {
			continue
		}
		left = append(left, pod.Namespace+"/"+pod.Name)
		if pod.DeletionTimestamp != nil {
			continue // evicted, terminating
		}
		eviction := &policyv1.Eviction{
			TypeMeta:   metav1.TypeMeta{APIVersion: policyv1.SchemeGroupVersion.String(), Kind: "Eviction"},
			ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Name},
		}
		err := core.RESTClient().Post().Namespace(pod.Namespace).Resource("pods").Name(pod.Name).SubResource("eviction").
			Body(eviction).MaxRetries(0).Do(ctx).Error()
		switch {
		case err == nil, apierrors.IsNotFound(err):
		case apierrors.IsTooManyRequests(err):
			// A PodDisruptionBudget does not allow it now.
		default:
			errs = append(errs, fmt.Errorf("evicting pod %s/%s from Node %s: %w", pod.Namespace, pod.Name, nodeName, err))
		}
	}
	if len(errs) > 0 {
		return false, "", kerrors.NewAggregate(errs)
	}
	if len(left) == 0 {
		return true, "", nil
	}
	const named = 5
	if len(left) > named {
		return false, fmt.Sprintf("%d pods: %s, ...", len(left), strings.Join(left[:named], ", ")), nil
	}
	return false, fmt.Sprintf("%d pods: %s", len(left), strings.Join(left, ", ")), nil
}

// mustLeaveNode: a pod that a drain evicts. Ended pods hold nothing; a static pod (its
// mirror) and a DaemonSet's pod belong to the node and would come straight back.
func mustLeaveNode(pod *corev1.Pod) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if _, mirror := pod.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
		return false
	}
	if owner := metav1.GetControllerOf(pod); owner != nil && owner.Kind == "DaemonSet" {
		return false
	}
	return true
}

// uncordonEvacuatedNode uncordons the Node the provider cordoned for an evacuation once
// the guest runs again elsewhere: the VMI is Ready, and the Node is Ready with another
// boot ID than when it was cordoned.
func (r *MachineReconciler) uncordonEvacuatedNode(ctx context.Context, s *machineScope) (ctrl.Result, error) {
	bootID, cordoned := s.km.Annotations[CordonedBootIDAnnotation]
	if !cordoned || !vm.IsReady(s.vmi) || s.vmi.DeletionTimestamp != nil {
		return ctrl.Result{}, nil
	}
	log := ctrl.LoggerFrom(ctx)
	nodeName := nestedNodeName(s)
	wc, err := workloadClient(ctx, r.Client, util.ObjectKey(s.cluster))
	if err != nil {
		log.Info("cannot reach the nested cluster to uncordon its node yet; retrying", "node", nodeName, "error", err.Error())
		return ctrl.Result{RequeueAfter: nodeRecheck}, nil
	}
	node := &corev1.Node{}
	if err := wc.Get(ctx, client.ObjectKey{Name: nodeName}, node); apierrors.IsNotFound(err) {
		delete(s.km.Annotations, CordonedBootIDAnnotation) // gone: nothing to uncordon
		return ctrl.Result{}, nil
	} else if err != nil {
		log.Info("cannot read the nested cluster's node yet; retrying", "node", nodeName, "error", err.Error())
		return ctrl.Result{RequeueAfter: nodeRecheck}, nil
	}
	if node.Status.NodeInfo.BootID == bootID || !nodeReady(node) {
		return ctrl.Result{RequeueAfter: nodeRecheck}, nil // the guest's kubelet is not back yet
	}
	if node.Spec.Unschedulable {
		patch := client.MergeFrom(node.DeepCopy())
		node.Spec.Unschedulable = false
		if err := wc.Patch(ctx, node, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("uncordoning Node %s: %w", nodeName, err)
		}
		r.Recorder.Eventf(s.km, corev1.EventTypeNormal, "NodeUncordoned", "Uncordoned Node %s of the nested cluster: it is Ready again after the move", nodeName)
	}
	delete(s.km.Annotations, CordonedBootIDAnnotation)
	return ctrl.Result{}, nil
}

// nestedNodeName is the machine's Node in the nested cluster: the Machine's nodeRef once
// Cluster API has set it, else the guest's host name, the machine's name.
func nestedNodeName(s *machineScope) string {
	if s.machine.Status.NodeRef.Name != "" {
		return s.machine.Status.NodeRef.Name
	}
	return s.km.Name
}

func nodeReady(node *corev1.Node) bool {
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// clusterEvictionStrategy is the infrastructure cluster's default evictionStrategy (its
// KubeVirt object's spec.configuration.evictionStrategy), nil when it sets none.
func clusterEvictionStrategy(ctx context.Context, infra client.Reader) (*kubevirtv1.EvictionStrategy, error) {
	list := &kubevirtv1.KubeVirtList{}
	if err := infra.List(ctx, list); err != nil {
		return nil, fmt.Errorf("reading the infrastructure cluster's KubeVirt object: %w", err)
	}
	for i := range list.Items {
		if s := clusterconfig.FromKubeVirt(&list.Items[i]).EvictionStrategy; s != nil {
			return s, nil
		}
	}
	return nil, nil
}

func setAnnotation(o metav1.Object, key, value string) {
	a := o.GetAnnotations()
	if a == nil {
		a = map[string]string{}
	}
	a[key] = value
	o.SetAnnotations(a)
}
