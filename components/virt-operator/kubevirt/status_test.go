package kubevirt

import (
	"testing"

	k8sv1 "k8s.io/api/core/v1"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/components/virt-operator/install"
)

func statuses(kv *v1.KubeVirt) map[v1.KubeVirtConditionType]string {
	out := map[v1.KubeVirtConditionType]string{}
	for _, c := range kv.Status.Conditions {
		out[c.Type] = string(c.Status) + "/" + c.Reason
	}
	return out
}

func TestConditionsFollowKubeVirtsOperator(t *testing.T) {
	kv := &v1.KubeVirt{}
	cfg := install.Config{Namespace: "kubevirt", ImageRegistry: "localhost/hypernest", ImageTag: "v1"}

	setTarget(kv, cfg, "v1")
	conditionsInProgress(kv, "virt-api")
	if got := statuses(kv); got[v1.KubeVirtConditionAvailable] != "False/DeploymentInProgress" || got[v1.KubeVirtConditionProgressing] != "True/DeploymentInProgress" {
		t.Fatalf("a first install is deploying: %v", got)
	}
	if kv.Status.Phase != v1.KubeVirtPhaseDeploying || kv.Status.DefaultArchitecture == "" || kv.Status.TargetDeploymentID == "" {
		t.Fatalf("target not recorded: %+v", kv.Status)
	}

	setObserved(kv)
	conditionsAvailable(kv)
	want := map[v1.KubeVirtConditionType]string{
		v1.KubeVirtConditionAvailable:   "True/AllComponentsReady",
		v1.KubeVirtConditionProgressing: "False/AllComponentsReady",
		v1.KubeVirtConditionDegraded:    "False/AllComponentsReady",
		v1.KubeVirtConditionCreated:     "True/AllResourcesCreated",
	}
	if got := statuses(kv); len(got) != len(want) || got[v1.KubeVirtConditionCreated] != want[v1.KubeVirtConditionCreated] || got[v1.KubeVirtConditionAvailable] != want[v1.KubeVirtConditionAvailable] {
		t.Fatalf("deployed: want %v, got %v", want, got)
	}

	cfg.ImageTag = "v2"
	setTarget(kv, cfg, "v2")
	if !updating(kv) {
		t.Fatal("a new tag must count as an update")
	}
	conditionsInProgress(kv, "virt-handler")
	got := statuses(kv)
	if got[v1.KubeVirtConditionAvailable] != "True/UpdateInProgress" || got[v1.KubeVirtConditionDegraded] != "True/UpdateInProgress" {
		t.Fatalf("during an update the old version serves: %v", got)
	}
	if _, ok := got[v1.KubeVirtConditionCreated]; ok {
		t.Fatalf("Created goes during an update, as in KubeVirt: %v", got)
	}

	conditionsFailed(kv, errTest("boom"))
	if got := statuses(kv); got[v1.KubeVirtConditionSynchronized] != "False/DeploymentFailed" || got[v1.KubeVirtConditionDegraded] != "True/DeploymentFailed" {
		t.Fatalf("a failed apply: %v", got)
	}

	conditionsDeleting(kv)
	got = statuses(kv)
	if got[v1.KubeVirtConditionAvailable] != "False/DeletionInProgress" {
		t.Fatalf("deleting: %v", got)
	}
	for _, gone := range []v1.KubeVirtConditionType{v1.KubeVirtConditionCreated, v1.KubeVirtConditionSynchronized} {
		if _, ok := got[gone]; ok {
			t.Fatalf("%s must go on deletion: %v", gone, got)
		}
	}
	if c := condition(kv, v1.KubeVirtConditionDegraded); c.Status != k8sv1.ConditionTrue {
		t.Fatalf("Degraded while deleting: %+v", c)
	}
}

// An installation from before the deployment ID was recorded: same version, no update.
func TestUpdatingWithoutRecordedDeploymentID(t *testing.T) {
	kv := &v1.KubeVirt{Status: v1.KubeVirtStatus{ObservedKubeVirtVersion: "v1", ObservedKubeVirtRegistry: "r", TargetKubeVirtVersion: "v1", TargetKubeVirtRegistry: "r", TargetDeploymentID: "x"}}
	if updating(kv) {
		t.Fatal("same version and registry is no update")
	}
	kv.Status.TargetKubeVirtVersion = "v2"
	if !updating(kv) {
		t.Fatal("a new version is an update")
	}
}

type errTest string

func (e errTest) Error() string { return string(e) }
