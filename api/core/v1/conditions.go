package v1

import (
	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition helpers shared by the components that write VM and VMI status. Each moves
// lastTransitionTime only when a condition's status changes, as Kubernetes conditions do.

// SetVMICondition sets the VMI condition of type t.
func SetVMICondition(s *VirtualMachineInstanceStatus, t VirtualMachineInstanceConditionType, status k8sv1.ConditionStatus, reason, message string) {
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
	s.Conditions = append(s.Conditions, VirtualMachineInstanceCondition{
		Type: t, Status: status, Reason: reason, Message: message, LastTransitionTime: metav1.Now(),
	})
}

// RemoveVMICondition drops the VMI condition of type t.
func RemoveVMICondition(s *VirtualMachineInstanceStatus, t VirtualMachineInstanceConditionType) {
	kept := s.Conditions[:0]
	for _, c := range s.Conditions {
		if c.Type != t {
			kept = append(kept, c)
		}
	}
	s.Conditions = kept
}

// VMICondition returns the VMI condition of type t, or nil.
func VMICondition(s *VirtualMachineInstanceStatus, t VirtualMachineInstanceConditionType) *VirtualMachineInstanceCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// SetVMCondition sets the VM condition of type t.
func SetVMCondition(s *VirtualMachineStatus, t VirtualMachineConditionType, status k8sv1.ConditionStatus, reason, message string) {
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
	s.Conditions = append(s.Conditions, VirtualMachineCondition{
		Type: t, Status: status, Reason: reason, Message: message, LastTransitionTime: metav1.Now(),
	})
}

// VMCondition returns the VM condition of type t, or nil.
func VMCondition(s *VirtualMachineStatus, t VirtualMachineConditionType) *VirtualMachineCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// RemoveVMCondition drops the VM condition of type t.
func RemoveVMCondition(s *VirtualMachineStatus, t VirtualMachineConditionType) {
	kept := s.Conditions[:0]
	for _, c := range s.Conditions {
		if c.Type != t {
			kept = append(kept, c)
		}
	}
	s.Conditions = kept
}

// SetVMIPhase moves a VMI to phase, recording when; it reports whether the phase changed.
func SetVMIPhase(s *VirtualMachineInstanceStatus, phase VirtualMachineInstancePhase) bool {
	if s.Phase == phase {
		return false
	}
	s.Phase = phase
	s.PhaseTransitionTimestamps = append(s.PhaseTransitionTimestamps, VirtualMachineInstancePhaseTransitionTimestamp{
		Phase: phase, PhaseTransitionTimestamp: metav1.Now(),
	})
	return true
}

// FinishVMI ends a VMI in a final phase for reason: its guest is neither ready nor paused.
func FinishVMI(s *VirtualMachineInstanceStatus, phase VirtualMachineInstancePhase, reason string) {
	SetVMIPhase(s, phase)
	s.Reason = reason
	SetVMICondition(s, VirtualMachineInstanceReady, k8sv1.ConditionFalse, GuestNotRunningReason, "The guest is not running")
	RemoveVMICondition(s, VirtualMachineInstancePaused)
}

// SetReplicaSetCondition sets the VMI replica set condition of type t.
func SetReplicaSetCondition(s *VirtualMachineInstanceReplicaSetStatus, t VirtualMachineInstanceReplicaSetConditionType, status k8sv1.ConditionStatus, reason, message string) {
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
	s.Conditions = append(s.Conditions, VirtualMachineInstanceReplicaSetCondition{
		Type: t, Status: status, Reason: reason, Message: message, LastTransitionTime: metav1.Now(),
	})
}

// RemoveReplicaSetCondition drops the VMI replica set condition of type t.
func RemoveReplicaSetCondition(s *VirtualMachineInstanceReplicaSetStatus, t VirtualMachineInstanceReplicaSetConditionType) {
	kept := s.Conditions[:0]
	for _, c := range s.Conditions {
		if c.Type != t {
			kept = append(kept, c)
		}
	}
	s.Conditions = kept
}
