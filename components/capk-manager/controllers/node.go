package controllers

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/cluster-api/util"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// nodeRecheck is how often a provisioned machine whose Node has not registered in the
// nested cluster yet is looked at again: kubeadm join under TCG takes minutes.
const nodeRecheck = 15 * time.Second

// workloadConfig reads the nested cluster's kubeconfig from the Secret Cluster API
// keeps for it: <cluster>-kubeconfig, key "value" (Cluster API's contract; its own
// util/kubeconfig reader would pull the kubeadm bootstrap types into this binary).
func workloadConfig(ctx context.Context, c client.Client, cluster client.ObjectKey) (*rest.Config, error) {
	secret := &corev1.Secret{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: cluster.Namespace, Name: cluster.Name + "-kubeconfig"}, secret); err != nil {
		return nil, err
	}
	config, err := clientcmd.RESTConfigFromKubeConfig(secret.Data["value"])
	if err != nil {
		return nil, err
	}
	config.UserAgent = "capk-manager"
	// The nested cluster may be slow (TCG) or unreachable: fail fast, retry later.
	config.Timeout = 10 * time.Second
	return config, nil
}

// workloadClient is a client of the nested cluster (workloadConfig).
func workloadClient(ctx context.Context, c client.Client, cluster client.ObjectKey) (client.Client, error) {
	config, err := workloadConfig(ctx, c, cluster)
	if err != nil {
		return nil, err
	}
	return client.New(config, client.Options{})
}

// updateWorkloadNode gives the machine's Node in the nested cluster the machine's provider
// ID, as CAPK does: nodes of a kubevirt cluster run no cloud provider that would, and
// Cluster API matches Nodes to Machines by provider ID (a worker keeps its
// node.cluster.x-k8s.io/uninitialized taint until then). It never blocks the machine's
// readiness; status.nodeupdated records that it is done.
func (r *MachineReconciler) updateWorkloadNode(ctx context.Context, s *machineScope) (ctrl.Result, error) {
	if s.km.Status.NodeUpdated || ptr.Deref(s.km.Spec.ProviderID, "") == "" {
		return ctrl.Result{}, nil
	}
	if !ptr.Deref(s.cluster.Status.Initialization.ControlPlaneInitialized, false) {
		return ctrl.Result{RequeueAfter: nodeRecheck}, nil
	}
	log := ctrl.LoggerFrom(ctx)
	wc, err := workloadClient(ctx, r.Client, util.ObjectKey(s.cluster))
	if err != nil {
		log.Info("cannot reach the nested cluster yet; retrying", "error", err.Error())
		return ctrl.Result{RequeueAfter: nodeRecheck}, nil
	}
	node := &corev1.Node{}
	if err := wc.Get(ctx, client.ObjectKey{Name: s.km.Name}, node); err != nil {
		if !apierrors.IsNotFound(err) {
			log.Info("cannot read the machine's Node in the nested cluster yet; retrying", "error", err.Error())
		}
		return ctrl.Result{RequeueAfter: nodeRecheck}, nil
	}
	providerID := *s.km.Spec.ProviderID
	switch node.Spec.ProviderID {
	case providerID:
	case "":
		patch := client.MergeFrom(node.DeepCopy())
		node.Spec.ProviderID = providerID
		if err := wc.Patch(ctx, node, patch); err != nil {
			return ctrl.Result{}, err
		}
		r.Recorder.Eventf(s.km, corev1.EventTypeNormal, "NodeUpdated", "Node %s of the nested cluster has provider ID %s", node.Name, providerID)
	default:
		// Someone else (a cloud provider in the nested cluster) owns it: leave it.
		r.Recorder.Eventf(s.km, corev1.EventTypeWarning, "NodeProviderIDMismatch",
			"Node %s of the nested cluster has provider ID %s, not %s; Cluster API will not match it to this machine", node.Name, node.Spec.ProviderID, providerID)
	}
	s.km.Status.NodeUpdated = true
	return ctrl.Result{}, nil
}
