package manager

import (
	"strings"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

// diskErrors names, by VMI volume, the disks libvirt reports an I/O error on. errs come
// from virDomainGetDiskErrors, which names a disk by its target device ("vda"); the
// converter gives each disk the alias "ua-<volume>".
func diskErrors(xml string, errs []libvirt.DomainDiskError) []*launcherv1.DiskError {
	var dom libvirtxml.Domain
	volumes := map[string]string{}
	if err := dom.Unmarshal(xml); err == nil && dom.Devices != nil {
		for _, d := range dom.Devices.Disks {
			if d.Target != nil && d.Alias != nil {
				volumes[d.Target.Dev] = strings.TrimPrefix(d.Alias.Name, "ua-")
			}
		}
	}
	var out []*launcherv1.DiskError
	for _, e := range errs {
		if e.Error == libvirt.DOMAIN_DISK_ERROR_NONE {
			continue
		}
		volume := volumes[e.Disk]
		if volume == "" {
			volume = e.Disk
		}
		out = append(out, &launcherv1.DiskError{Volume: volume, NoSpace: e.Error == libvirt.DOMAIN_DISK_ERROR_NO_SPACE})
	}
	return out
}
