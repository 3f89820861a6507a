package vmi

import (
	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// setCondition sets a VMI condition, moving lastTransitionTime only when the status changes.
func setCondition(s *v1.VirtualMachineInstanceStatus, t v1.VirtualMachineInstanceConditionType, status k8sv1.ConditionStatus, reason, message string) {
	for i := range s.Conditions {
		c := &s.Conditions[i]
		if c.Type != t {
			continue
		}
		if c.Status != status {
			c.LastTransitionTime = metav1.Now()
		}
		c.Status, c.Reason, c.Message = status, reason, message
		return
	}
	s.Conditions = append(s.Conditions, v1.VirtualMachineInstanceCondition{
		Type: t, Status: status, Reason: reason, Message: message, LastTransitionTime: metav1.Now(),
	})
}

func removeCondition(s *v1.VirtualMachineInstanceStatus, t v1.VirtualMachineInstanceConditionType) {
	kept := s.Conditions[:0]
	for _, c := range s.Conditions {
		if c.Type != t {
			kept = append(kept, c)
		}
	}
	s.Conditions = kept
}
