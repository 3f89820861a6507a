package domain_test

import (
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/types"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/api/core/v1/defaults"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	"github.com/hypernest/hypernest/components/virt-launcher/domain"
	"github.com/hypernest/hypernest/tests/framework"
)

var update = flag.Bool("update", false, "rewrite the golden domain XML files in testdata/")

// vmiFromExample decodes a conformance example and returns the VMI it runs (a VM's
// template for a VirtualMachine), with defaults set as virt-api would set them.
func vmiFromExample(t *testing.T, file string) *v1.VirtualMachineInstance {
	t.Helper()
	obj, err := framework.DecodeExample(file)
	if err != nil {
		t.Fatal(err)
	}
	var vmi *v1.VirtualMachineInstance
	switch o := obj.(type) {
	case *v1.VirtualMachineInstance:
		vmi = o
	case *v1.VirtualMachine:
		vmi = &v1.VirtualMachineInstance{ObjectMeta: o.ObjectMeta, Spec: o.Spec.Template.Spec}
	default:
		t.Fatalf("%s holds a %T, not a VM or VMI", file, obj)
	}
	vmi.Namespace = "default"
	vmi.UID = types.UID("8f3b5c0e-0000-4000-8000-000000000001")
	defaults.SetVirtualMachineInstanceSpecDefaults(&vmi.Spec)
	return vmi
}

// podOptions are what a launcher pod would prepare: files under the private folder and
// one masquerade tap per interface.
func podOptions(vmi *v1.VirtualMachineInstance, emulate bool) domain.Options {
	opts := domain.Options{
		UseEmulation:     emulate,
		Disks:            map[string]domain.DiskSource{},
		Interfaces:       map[string]*launcherv1.InterfacePlumbing{},
		SocketsDir:       launcherv1.SocketsDir,
		DirectIO:         true,
		GuestAgentSocket: filepath.Join(launcherv1.PrivateDir, "qga.sock"),
	}
	for _, vol := range vmi.Spec.Volumes {
		src := domain.DiskSource{Path: filepath.Join(launcherv1.PrivateDir, "disks", vol.Name+".qcow2"), Format: "qcow2"}
		if vol.CloudInitNoCloud != nil || vol.CloudInitConfigDrive != nil {
			src = domain.DiskSource{Path: filepath.Join(launcherv1.PrivateDir, "cloud-init", vol.Name+".iso"), Format: "raw", ReadOnly: true}
		}
		opts.Disks[vol.Name] = src
	}
	for i, iface := range vmi.Spec.Domain.Devices.Interfaces {
		opts.Interfaces[iface.Name] = &launcherv1.InterfacePlumbing{
			Name: iface.Name, Tap: "tap" + string(rune('0'+i)), Mac: "02:00:00:00:00:0" + string(rune('1'+i)),
			Bridge: "k6t-eth0", GuestIp: "10.0.2.2/24", GatewayIp: "10.0.2.1/24", Mtu: 1500,
		}
	}
	return opts
}

func TestConvertMatchesGoldenXML(t *testing.T) {
	validator, err := exec.LookPath("virt-xml-validate")
	if err != nil {
		t.Fatal("virt-xml-validate (Debian's libvirt-clients) checks the XML against libvirt's schema; run hack/install-deps.sh")
	}
	for _, tc := range []struct {
		example, golden string
		emulate         bool
	}{
		{"vmi-nocloud.yaml", "vmi-nocloud.xml", true},
		{"vmi-masquerade.yaml", "vmi-masquerade.xml", true},
		{"vm-cirros.yaml", "vm-cirros-kvm.xml", false},
	} {
		t.Run(tc.golden, func(t *testing.T) {
			vmi := vmiFromExample(t, tc.example)
			dom, err := domain.Convert(vmi, podOptions(vmi, tc.emulate))
			if err != nil {
				t.Fatal(err)
			}
			xml, err := dom.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", tc.golden)
			if *update {
				if err := os.WriteFile(golden, []byte(xml+"\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if string(want) != xml+"\n" {
				t.Errorf("domain XML differs from %s (run go test -update and review the diff):\n%s", golden, xml)
			}
			out, err := exec.Command(validator, golden, "domain").CombinedOutput()
			if err != nil {
				t.Errorf("libvirt's schema refuses %s: %s", golden, out)
			}
		})
	}
}

func TestConvertRefusesBadSpecsNamingTheField(t *testing.T) {
	for name, tc := range map[string]struct {
		mutate func(*v1.VirtualMachineInstance)
		field  string
	}{
		"a disk with no volume": {
			mutate: func(vmi *v1.VirtualMachineInstance) {
				vmi.Spec.Domain.Devices.Disks = append(vmi.Spec.Domain.Devices.Disks, v1.Disk{Name: "missing", DiskDevice: v1.DiskDevice{Disk: &v1.DiskTarget{Bus: "virtio"}}})
			},
			field: `spec.domain.devices.disks[3].name: Invalid value: "missing": volume "missing" not found`,
		},
		"a guest under KubeVirt's 1M floor": {
			mutate: func(vmi *v1.VirtualMachineInstance) {
				small := resource.MustParse("512Ki")
				vmi.Spec.Domain.Memory.Guest = &small
			},
			field: `spec.domain.memory.guest: Invalid value: "512Ki": must be greater than or equal to 1M`,
		},
		"an unknown disk bus": {
			mutate: func(vmi *v1.VirtualMachineInstance) { vmi.Spec.Domain.Devices.Disks[0].Disk.Bus = "ide" },
			field:  `spec.domain.devices.disks[0].disk.bus: Unsupported value: "ide"`,
		},
		"a feature not implemented yet": {
			mutate: func(vmi *v1.VirtualMachineInstance) { vmi.Spec.Domain.CPU.DedicatedCPUPlacement = true },
			field:  `spec.domain.cpu.dedicatedCpuPlacement: Forbidden: dedicatedCpuPlacement is not supported by Hypernest yet`,
		},
	} {
		t.Run(name, func(t *testing.T) {
			vmi := vmiFromExample(t, "vmi-nocloud.yaml")
			tc.mutate(vmi)
			_, err := domain.Convert(vmi, podOptions(vmi, true))
			if err == nil || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("want an error containing %q, got %v", tc.field, err)
			}
		})
	}
}

// A block-mode claim is a block device source; a claim's disk.img on a filesystem
// without O_DIRECT gets writethrough caching, whatever the private folder supports.
func TestConvertClaimDisks(t *testing.T) {
	vmi := vmiFromExample(t, "vmi-nocloud.yaml")
	for _, name := range []string{"data", "raw"} {
		vmi.Spec.Domain.Devices.Disks = append(vmi.Spec.Domain.Devices.Disks, v1.Disk{Name: name, DiskDevice: v1.DiskDevice{Disk: &v1.DiskTarget{Bus: v1.DiskBusVirtio}}})
		vmi.Spec.Volumes = append(vmi.Spec.Volumes, v1.Volume{Name: name, VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{
			PersistentVolumeClaimVolumeSource: k8sv1.PersistentVolumeClaimVolumeSource{ClaimName: name + "-claim"},
		}}})
	}
	opts := podOptions(vmi, true)
	noDirect, direct := false, true
	opts.Disks["data"] = domain.DiskSource{Path: filepath.Join(launcherv1.PVCDiskDir("data"), launcherv1.PVCDiskImage), Format: "raw", DirectIO: &noDirect}
	opts.Disks["raw"] = domain.DiskSource{Path: launcherv1.BlockDevicePath("raw"), Format: "raw", Block: true, DirectIO: &direct}
	dom, err := domain.Convert(vmi, opts)
	if err != nil {
		t.Fatal(err)
	}
	xml, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`<disk type="file" device="disk">
      <driver name="qemu" type="raw" cache="writethrough" error_policy="stop" discard="unmap"></driver>
      <source file="/var/run/kubevirt-private/vmi-disks/data/disk.img"></source>`,
		`<disk type="block" device="disk">
      <driver name="qemu" type="raw" cache="none" error_policy="stop" discard="unmap"></driver>
      <source dev="/dev/raw"></source>`,
	} {
		if !strings.Contains(xml, want) {
			t.Errorf("the domain lacks\n%s\nin:\n%s", want, xml)
		}
	}
	file := filepath.Join(t.TempDir(), "claims.xml")
	if err := os.WriteFile(file, []byte(xml), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("virt-xml-validate", file, "domain").CombinedOutput(); err != nil {
		t.Errorf("libvirt's schema refuses the domain: %s", out)
	}
}

// Only an emulated guest with the maximum CPU and no named features has its CPU read
// through feature-words: the rest keep libvirt's generic read and its checks.
func TestGuestCPUReadByFeatureWords(t *testing.T) {
	for name, tc := range map[string]struct {
		emulate bool
		mutate  func(*v1.VirtualMachineInstance)
		want    bool
	}{
		"emulated, the default CPU":  {emulate: true, want: true},
		"on KVM, the default CPU":    {emulate: false},
		"emulated, a named model":    {emulate: true, mutate: func(vmi *v1.VirtualMachineInstance) { vmi.Spec.Domain.CPU.Model = "Skylake-Server" }},
		"emulated, host-passthrough": {emulate: true, mutate: func(vmi *v1.VirtualMachineInstance) { vmi.Spec.Domain.CPU.Model = "host-passthrough" }},
		"emulated, a named feature": {emulate: true, mutate: func(vmi *v1.VirtualMachineInstance) {
			vmi.Spec.Domain.CPU.Features = []v1.CPUFeature{{Name: "vmx-exit-load-perf-global-ctrl", Policy: "disable"}}
		}},
	} {
		t.Run(name, func(t *testing.T) {
			vmi := vmiFromExample(t, "vmi-nocloud.yaml")
			if tc.mutate != nil {
				tc.mutate(vmi)
			}
			dom, err := domain.Convert(vmi, podOptions(vmi, tc.emulate))
			if err != nil {
				t.Fatal(err)
			}
			if got := domain.GuestCPUReadByFeatureWords(dom); got != tc.want {
				t.Errorf("GuestCPUReadByFeatureWords = %v for CPU mode %q with %d features; want %v", got, dom.CPU.Mode, len(dom.CPU.Features), tc.want)
			}
		})
	}
}
