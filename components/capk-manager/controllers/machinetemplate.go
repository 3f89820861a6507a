package controllers

import (
	"context"
	"reflect"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	kerrors "k8s.io/apimachinery/pkg/util/errors"
	"sigs.k8s.io/cluster-api/util/patch"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	infrav1 "github.com/hypernest/hypernest/api/infrastructure/v1alpha1"
	"github.com/hypernest/hypernest/components/capk-manager/vm"
)

// MachineTemplateReconciler keeps each KubevirtMachineTemplate's status.capacity (the
// vCPUs and memory of one machine), which the cluster autoscaler reads to scale a
// MachineDeployment up from zero.
type MachineTemplateReconciler struct {
	Client client.Client
}

// Reconcile sets status.capacity from the template.
func (r *MachineTemplateReconciler) Reconcile(ctx context.Context, req ctrl.Request) (_ ctrl.Result, reterr error) {
	t := &infrav1.KubevirtMachineTemplate{}
	if err := r.Client.Get(ctx, req.NamespacedName, t); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	capacity := vm.Capacity(&t.Spec.Template.Spec)
	if reflect.DeepEqual(capacity, t.Status.Capacity) {
		return ctrl.Result{}, nil
	}
	helper, err := patch.NewHelper(t, r.Client)
	if err != nil {
		return ctrl.Result{}, err
	}
	t.Status.Capacity = capacity
	if err := helper.Patch(ctx, t); err != nil && !apierrors.IsNotFound(err) {
		reterr = kerrors.NewAggregate([]error{reterr, err})
	}
	return ctrl.Result{}, reterr
}

// SetupWithManager registers the reconciler.
func (r *MachineTemplateReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).For(&infrav1.KubevirtMachineTemplate{}).Complete(r)
}
