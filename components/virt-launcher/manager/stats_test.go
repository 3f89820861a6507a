package manager

import (
	"testing"

	"libvirt.org/go/libvirt"
)

func TestDeviceAliasesAndConvert(t *testing.T) {
	xml := `<domain type="qemu"><name>d</name><devices>
  <disk type="file" device="disk"><target dev="vda" bus="virtio"/><alias name="ua-containerdisk"/></disk>
  <disk type="file" device="disk"><target dev="vdb" bus="virtio"/></disk>
  <interface type="ethernet"><target dev="tap0"/><alias name="ua-default"/></interface>
</devices></domain>`
	aliases := deviceAliases(xml)
	if aliases["vda"] != "containerdisk" || aliases["tap0"] != "default" {
		t.Fatalf("aliases %v: want vda=containerdisk, tap0=default", aliases)
	}
	if _, ok := aliases["vdb"]; ok {
		t.Errorf("vdb has no ua- alias, got %q", aliases["vdb"])
	}
	s := convertStats(&libvirt.DomainStats{
		Cpu:     &libvirt.DomainStatsCPU{TimeSet: true, Time: 5, UserSet: true, User: 3},
		Balloon: &libvirt.DomainStatsBalloon{CurrentSet: true, Current: 131072},
		Vcpu:    []libvirt.DomainStatsVcpu{{StateSet: true, State: libvirt.VCPU_RUNNING, TimeSet: true, Time: 4}},
		Net:     []libvirt.DomainStatsNet{{NameSet: true, Name: "tap0", RxBytesSet: true, RxBytes: 10}, {NameSet: false}},
		Block:   []libvirt.DomainStatsBlock{{NameSet: true, Name: "vda", RdReqsSet: true, RdReqs: 2}, {NameSet: true, Name: "vdb"}},
	}, aliases)
	if s.CpuTimeNanoseconds != 5 || s.GetCpuUserNanoseconds() != 3 || s.CpuSystemNanoseconds != nil {
		t.Errorf("cpu: %v / %v / %v, want 5 / 3 / unset", s.CpuTimeNanoseconds, s.CpuUserNanoseconds, s.CpuSystemNanoseconds)
	}
	if s.Memory.GetDomainKib() != 131072 || s.Memory.UnusedKib != nil {
		t.Errorf("memory: %v", s.Memory)
	}
	if len(s.Vcpus) != 1 || s.Vcpus[0].GetState() != 1 || s.Vcpus[0].GetTimeNanoseconds() != 4 {
		t.Errorf("vcpus: %v", s.Vcpus)
	}
	if len(s.Interfaces) != 1 || s.Interfaces[0].Name != "default" || s.Interfaces[0].GetRxBytes() != 10 || s.Interfaces[0].TxBytes != nil {
		t.Errorf("interfaces: %v (a NIC without a name is left out)", s.Interfaces)
	}
	if len(s.Blocks) != 2 || s.Blocks[0].Name != "containerdisk" || s.Blocks[0].GetReadRequests() != 2 || s.Blocks[1].Name != "vdb" {
		t.Errorf("blocks: %v", s.Blocks)
	}
}
