package webhooks

import (
	"context"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	k8sv1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

// evictionValidator answers the eviction of a virt-launcher pod (kubectl drain, the
// descheduler, the cluster autoscaler) by the VMI's evictionStrategy, as KubeVirt's
// virt-launcher-eviction-interceptor does:
//   - None, or no strategy: the eviction goes ahead, and the guest is shut down with its pod;
//   - LiveMigrate: refused while the VMI cannot live-migrate, so a drain waits rather than
//     kill the guest;
//   - LiveMigrateIfPossible: goes ahead while the VMI cannot live-migrate;
//   - External: refused, and the VMI is marked with status.evacuationNodeName for an
//     outside controller (CAPK's) to move the workload and delete the VMI.
//
// A VMI that can live-migrate is marked as well, for the migration that moves it. Every
// refusal is a 429, which kubectl drain retries every 5 s; the descheduler parses the
// "Eviction triggered evacuation of VMI" text.
type evictionValidator struct {
	decoder admission.Decoder
	// reader reads the pod and its VMI uncached (evictions are rare); writer marks the VMI.
	reader client.Reader
	writer client.Client
	config ConfigFunc
}

func (v *evictionValidator) Handle(ctx context.Context, req admission.Request) admission.Response {
	pod := &k8sv1.Pod{}
	if err := v.reader.Get(ctx, client.ObjectKey{Namespace: req.Namespace, Name: req.Name}, pod); err != nil {
		// The eviction itself answers for a pod that does not exist.
		return admission.Allowed("")
	}
	if pod.Labels[v1.AppLabel] != launcherv1.AppLabelValue || pod.Status.Phase == k8sv1.PodSucceeded || pod.Status.Phase == k8sv1.PodFailed {
		return admission.Allowed("")
	}
	vmiName := pod.Annotations[v1.DomainAnnotation]
	vmi := &v1.VirtualMachineInstance{}
	if err := v.reader.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: vmiName}, vmi); apierrors.IsNotFound(err) {
		// Deliberately unlike KubeVirt, which refuses: a pod whose VMI is gone protects
		// no guest of a VMI, and refusing would hold a drain for ever.
		return admission.Allowed("")
	} else if err != nil {
		return tooManyRequests(fmt.Sprintf("kubevirt failed getting the vmi: %v", err))
	}

	strategy := vmi.Spec.EvictionStrategy
	if strategy == nil {
		strategy = v.config(ctx).EvictionStrategy
	}
	migratable := vmiMigratable(vmi)
	switch {
	case strategy == nil || *strategy == v1.EvictionStrategyNone:
		return admission.Allowed("")
	case *strategy == v1.EvictionStrategyLiveMigrate && !migratable:
		return tooManyRequests(fmt.Sprintf("VMI %s is configured with an eviction strategy but is not live-migratable", vmi.Name))
	case *strategy == v1.EvictionStrategyLiveMigrateIfPossible && !migratable:
		return admission.Allowed("")
	}

	// LiveMigrate or LiveMigrateIfPossible on a migratable VMI, or External: mark it.
	evacuation := fmt.Sprintf("Eviction triggered evacuation of VMI \"%s/%s\"", vmi.Namespace, vmi.Name)
	if vmi.Status.EvacuationNodeName != "" {
		return tooManyRequests("Evacuation in progress: " + evacuation)
	}
	if vmi.Status.NodeName != pod.Spec.NodeName {
		return tooManyRequests("Eviction request for target Pod")
	}
	if !v.dryRun(req) {
		base := vmi.DeepCopy()
		vmi.Status.EvacuationNodeName = pod.Spec.NodeName
		if err := v.writer.Status().Patch(ctx, vmi, client.MergeFromWithOptions(base, client.MergeFromWithOptimisticLock{})); err != nil {
			return tooManyRequests(fmt.Sprintf("kubevirt failed marking the vmi for eviction: %v", err))
		}
	}
	return tooManyRequests(evacuation)
}

// dryRun: the request, or the eviction's delete options, asks for a dry run; then the
// VMI is not marked (the webhook is registered with sideEffects NoneOnDryRun).
func (v *evictionValidator) dryRun(req admission.Request) bool {
	if req.DryRun != nil && *req.DryRun {
		return true
	}
	eviction := &policyv1.Eviction{}
	if err := v.decoder.DecodeRaw(req.Object, eviction); err != nil || eviction.DeleteOptions == nil {
		return false
	}
	for _, d := range eviction.DeleteOptions.DryRun {
		if d == metav1.DryRunAll {
			return true
		}
	}
	return false
}

// vmiMigratable: the VMI's LiveMigratable condition is True.
func vmiMigratable(vmi *v1.VirtualMachineInstance) bool {
	c := v1.VMICondition(&vmi.Status, v1.VirtualMachineInstanceIsMigratable)
	return c != nil && c.Status == k8sv1.ConditionTrue
}

// tooManyRequests refuses with 429, which clients of the eviction API retry.
func tooManyRequests(message string) admission.Response {
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{
		Allowed: false,
		Result:  &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusTooManyRequests, Reason: metav1.StatusReasonTooManyRequests, Message: message},
	}}
}
