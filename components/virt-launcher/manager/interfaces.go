package manager

import (
	"strings"

	"libvirt.org/go/libvirtxml"

	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
)

// interfacesFromXML lists the guest's NICs as the running domain has them: the VMI
// interface name (from the "ua-<name>" alias the converter sets) and the MAC address.
func interfacesFromXML(xml string) []*launcherv1.GuestInterface {
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(xml); err != nil || dom.Devices == nil {
		return nil
	}
	var out []*launcherv1.GuestInterface
	for _, iface := range dom.Devices.Interfaces {
		gi := &launcherv1.GuestInterface{}
		if iface.Alias != nil {
			gi.Name = strings.TrimPrefix(iface.Alias.Name, "ua-")
		}
		if iface.MAC != nil {
			gi.Mac = iface.MAC.Address
		}
		out = append(out, gi)
	}
	return out
}

// machineFromXML is the machine type of a running domain's XML (libvirt writes the
// expanded name there once the domain is defined).
func machineFromXML(xml string) string {
	var dom libvirtxml.Domain
	if err := dom.Unmarshal(xml); err != nil || dom.OS == nil || dom.OS.Type == nil {
		return ""
	}
	return dom.OS.Type.Machine
}
