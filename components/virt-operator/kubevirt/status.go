package kubevirt

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"runtime"

	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/components/virt-operator/install"
)

// The KubeVirt object's conditions are the sets KubeVirt's operator writes, with its
// reasons and messages, because tools wait on them: `kubectl wait kv --for
// condition=Available`, KubeVirt's own test suite (which waits for Created), OLM.
const (
	reasonAllComponentsReady  = "AllComponentsReady"
	reasonAllResourcesCreated = "AllResourcesCreated"
	reasonDeploying           = "DeploymentInProgress"
	reasonUpdating            = "UpdateInProgress"
	reasonDeploymentFailed    = "DeploymentFailed"
	reasonDeleting            = "DeletionInProgress"
	reasonDeletionFailed      = "DeletionFailed"
	// Hypernest's own: the operator (not a webhook, as in KubeVirt) holds the uninstall.
	reasonUninstallBlocked = "UninstallBlockedByWorkloads"
	reasonWrongNamespace   = "WrongNamespace"
)

// deploymentConfig is what an installation is made from; its JSON and hash are the
// status' target/observed deployment config and ID, as in KubeVirt, so a changed
// registry, tag or pull policy shows as an update in progress.
type deploymentConfig struct {
	Namespace       string           `json:"namespace"`
	Registry        string           `json:"registry"`
	Tag             string           `json:"tag"`
	ImagePullPolicy k8sv1.PullPolicy `json:"imagePullPolicy,omitempty"`
	SingleReplica   bool             `json:"singleReplica,omitempty"`
}

func deploymentConfigOf(cfg install.Config) (config, id string) {
	b, _ := json.Marshal(deploymentConfig{ // a struct of strings and a bool always marshals
		Namespace: cfg.Namespace, Registry: cfg.ImageRegistry, Tag: cfg.ImageTag,
		ImagePullPolicy: cfg.ImagePullPolicy, SingleReplica: cfg.SingleReplica,
	})
	sum := sha256.Sum256(b)
	return string(b), hex.EncodeToString(sum[:20])
}

// setTarget records what this pass deploys.
func setTarget(kv *v1.KubeVirt, cfg install.Config, operatorVersion string) {
	kv.Status.OperatorVersion = operatorVersion
	kv.Status.TargetKubeVirtVersion = cfg.ImageTag
	kv.Status.TargetKubeVirtRegistry = cfg.ImageRegistry
	kv.Status.TargetDeploymentConfig, kv.Status.TargetDeploymentID = deploymentConfigOf(cfg)
	// Hypernest has no spec.configuration.architectureConfiguration: guests run on the
	// operator's architecture, recorded once as KubeVirt does.
	if kv.Status.DefaultArchitecture == "" {
		kv.Status.DefaultArchitecture = runtime.GOARCH
	}
	if kv.Status.Phase == "" {
		kv.Status.Phase = v1.KubeVirtPhaseDeploying
	}
}

// setObserved records a target that is completely deployed.
func setObserved(kv *v1.KubeVirt) {
	kv.Status.ObservedKubeVirtVersion = kv.Status.TargetKubeVirtVersion
	kv.Status.ObservedKubeVirtRegistry = kv.Status.TargetKubeVirtRegistry
	kv.Status.ObservedDeploymentConfig = kv.Status.TargetDeploymentConfig
	kv.Status.ObservedDeploymentID = kv.Status.TargetDeploymentID
}

// updating: a version was deployed before and the target differs from it. An
// installation from before the deployment ID was recorded counts by its version.
func updating(kv *v1.KubeVirt) bool {
	s := kv.Status
	if s.ObservedDeploymentID == "" {
		return s.ObservedKubeVirtVersion != "" && (s.ObservedKubeVirtVersion != s.TargetKubeVirtVersion || s.ObservedKubeVirtRegistry != s.TargetKubeVirtRegistry)
	}
	return s.ObservedDeploymentID != s.TargetDeploymentID
}

// conditionsInProgress: components are being created or rolled out. During an update
// the old version still serves, so Available stays True (and Degraded is True, as in
// KubeVirt: versions are mixed).
func conditionsInProgress(kv *v1.KubeVirt, waitingFor string) {
	removeCondition(kv, v1.KubeVirtConditionSynchronized)
	if updating(kv) {
		removeCondition(kv, v1.KubeVirtConditionCreated)
		msg := fmt.Sprintf("Transitioning from previous version %s with registry %s to target version %s using registry %s; waiting for %s",
			kv.Status.ObservedKubeVirtVersion, kv.Status.ObservedKubeVirtRegistry, kv.Status.TargetKubeVirtVersion, kv.Status.TargetKubeVirtRegistry, waitingFor)
		setConditions(kv, reasonUpdating, msg, k8sv1.ConditionTrue, k8sv1.ConditionTrue, k8sv1.ConditionTrue)
		return
	}
	msg := fmt.Sprintf("Deploying version %s with registry %s; waiting for %s", kv.Status.TargetKubeVirtVersion, kv.Status.TargetKubeVirtRegistry, waitingFor)
	setConditions(kv, reasonDeploying, msg, k8sv1.ConditionFalse, k8sv1.ConditionTrue, k8sv1.ConditionFalse)
}

// conditionCreated: every object of the target is created (some may still start).
func conditionCreated(kv *v1.KubeVirt) {
	setCondition(kv, v1.KubeVirtConditionCreated, k8sv1.ConditionTrue, reasonAllResourcesCreated, "All resources were created.")
}

func conditionsAvailable(kv *v1.KubeVirt) {
	removeCondition(kv, v1.KubeVirtConditionSynchronized)
	conditionCreated(kv)
	setConditions(kv, reasonAllComponentsReady, "All components are ready.", k8sv1.ConditionTrue, k8sv1.ConditionFalse, k8sv1.ConditionFalse)
}

func conditionsFailed(kv *v1.KubeVirt, err error) {
	msg := fmt.Sprintf("An error occurred during deployment: %v", err)
	setCondition(kv, v1.KubeVirtConditionSynchronized, k8sv1.ConditionFalse, reasonDeploymentFailed, msg)
	setConditions(kv, reasonDeploymentFailed, msg, k8sv1.ConditionFalse, k8sv1.ConditionFalse, k8sv1.ConditionTrue)
}

func conditionsDeleting(kv *v1.KubeVirt) {
	removeCondition(kv, v1.KubeVirtConditionCreated)
	removeCondition(kv, v1.KubeVirtConditionSynchronized)
	setConditions(kv, reasonDeleting, "Deletion was triggered", k8sv1.ConditionFalse, k8sv1.ConditionFalse, k8sv1.ConditionTrue)
}

// setConditions sets Available, Progressing and Degraded with one reason and message.
func setConditions(kv *v1.KubeVirt, reason, message string, available, progressing, degraded k8sv1.ConditionStatus) {
	setCondition(kv, v1.KubeVirtConditionAvailable, available, reason, message)
	setCondition(kv, v1.KubeVirtConditionProgressing, progressing, reason, message)
	setCondition(kv, v1.KubeVirtConditionDegraded, degraded, reason, message)
}

func condition(kv *v1.KubeVirt, t v1.KubeVirtConditionType) *v1.KubeVirtCondition {
	for i := range kv.Status.Conditions {
		if kv.Status.Conditions[i].Type == t {
			return &kv.Status.Conditions[i]
		}
	}
	return nil
}

// setCondition sets a condition, moving lastTransitionTime only when its status changes.
func setCondition(kv *v1.KubeVirt, t v1.KubeVirtConditionType, status k8sv1.ConditionStatus, reason, message string) {
	now := metav1.Now()
	if c := condition(kv, t); c != nil {
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = status, reason, message
		return
	}
	kv.Status.Conditions = append(kv.Status.Conditions, v1.KubeVirtCondition{
		Type: t, Status: status, Reason: reason, Message: message, LastTransitionTime: now, LastProbeTime: now,
	})
}

func removeCondition(kv *v1.KubeVirt, t v1.KubeVirtConditionType) {
	kept := kv.Status.Conditions[:0]
	for _, c := range kv.Status.Conditions {
		if c.Type != t {
			kept = append(kept, c)
		}
	}
	kv.Status.Conditions = kept
}
