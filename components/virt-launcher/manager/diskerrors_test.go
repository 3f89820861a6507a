package manager

import (
	"testing"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

func TestDiskErrorsNameTheVolume(t *testing.T) {
	dom := libvirtxml.Domain{Devices: &libvirtxml.DomainDeviceList{Disks: []libvirtxml.DomainDisk{
		{Target: &libvirtxml.DomainDiskTarget{Dev: "vda"}, Alias: &libvirtxml.DomainAlias{Name: "ua-containerdisk"}},
		{Target: &libvirtxml.DomainDiskTarget{Dev: "vdb"}, Alias: &libvirtxml.DomainAlias{Name: "ua-data"}},
	}}}
	xml, err := dom.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	got := diskErrors(xml, []libvirt.DomainDiskError{
		{Disk: "vda", Error: libvirt.DOMAIN_DISK_ERROR_NONE},
		{Disk: "vdb", Error: libvirt.DOMAIN_DISK_ERROR_NO_SPACE},
		{Disk: "vdz", Error: libvirt.DOMAIN_DISK_ERROR_UNSPEC},
	})
	want := []*launcherv1.DiskError{{Volume: "data", NoSpace: true}, {Volume: "vdz"}}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].Volume != want[i].Volume || got[i].NoSpace != want[i].NoSpace {
			t.Errorf("error %d: got %v, want %v", i, got[i], want[i])
		}
	}
}
