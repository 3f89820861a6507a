package manager

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"libvirt.org/go/libvirt"
	"libvirt.org/go/libvirtxml"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	launcherv1 "github.com/hypernest/hypernest/api/launcher/v1"
	subresourcesv1 "github.com/hypernest/hypernest/api/subresources/v1"
)

// ErrNoAgent is returned while no guest agent is connected on the domain's channel.
var ErrNoAgent = errors.New("no guest agent is connected: the guest does not run qemu-guest-agent (yet)")

// agentChannel is the virtio-serial port name the QEMU guest agent listens on.
const agentChannel = "org.qemu.guest_agent.0"

// agentPollPeriod is how often the guest agent is asked for the guest's OS and
// addresses while it is connected: KubeVirt's launcher polls the OS info and interfaces
// every 10-30 s; a guest's OS rarely changes, its addresses a bit more often.
const agentPollPeriod = 15 * time.Second

// agentTimeout bounds one guest agent command, in seconds: a guest under TCG on a busy
// node answers within a second; a hung agent must not block the launcher.
const agentTimeout = 5

// sentinelPath is Cluster API's bootstrap sentinel (CAPI's bootstrap providers write it).
const sentinelPath = subresourcesv1.BootstrapSentinelPath

// agentState is what the guest agent last reported.
type agentState struct {
	connected  bool
	os         *launcherv1.GuestOSInfo
	interfaces map[string]guestIface // by MAC
}

type guestIface struct {
	name string
	ips  []string
}

// agentConnectedInXML reads the agent channel's state from the live domain XML.
func agentConnectedInXML(domXML string) bool {
	dom := &libvirtxml.Domain{}
	if err := dom.Unmarshal(domXML); err != nil || dom.Devices == nil {
		return false
	}
	for _, ch := range dom.Devices.Channels {
		if ch.Target != nil && ch.Target.VirtIO != nil && ch.Target.VirtIO.Name == agentChannel {
			return ch.Target.VirtIO.State == "connected"
		}
	}
	return false
}

// pollAgent asks a connected guest agent for the guest's OS and interface addresses,
// keeping what it answers for the next status; it runs until the manager closes.
func (m *Manager) pollAgent() {
	ticker := time.NewTicker(agentPollPeriod)
	defer ticker.Stop()
	for {
		m.readAgent()
		select {
		case <-m.closed:
			return
		case <-ticker.C:
		case <-m.agentWake:
		}
	}
}

func (m *Manager) readAgent() {
	d, err := m.lookup()
	if err != nil {
		return
	}
	defer d.Free()
	state := agentState{}
	if xml, err := d.GetXMLDesc(0); err == nil {
		state.connected = agentConnectedInXML(xml)
	}
	if state.connected {
		if info, err := d.GetGuestInfo(libvirt.DOMAIN_GUEST_INFO_OS, 0); err == nil && info.OS != nil {
			state.os = &launcherv1.GuestOSInfo{
				Name: info.OS.Name, Version: info.OS.Version, KernelRelease: info.OS.KernelRelease, Id: info.OS.ID,
				PrettyName: info.OS.PrettyName, VersionId: info.OS.VersionID, KernelVersion: info.OS.KernelVersion, Machine: info.OS.Machine,
			}
		}
		if addrs, err := d.ListAllInterfaceAddresses(libvirt.DOMAIN_INTERFACE_ADDRESSES_SRC_AGENT); err == nil {
			state.interfaces = map[string]guestIface{}
			for _, a := range addrs {
				if a.Name == "lo" || a.Hwaddr == "" {
					continue
				}
				gi := guestIface{name: a.Name}
				for _, ip := range a.Addrs {
					gi.ips = append(gi.ips, ip.Addr)
				}
				state.interfaces[strings.ToLower(a.Hwaddr)] = gi
			}
		}
	}
	m.mu.Lock()
	m.agent = state
	m.mu.Unlock()
	m.refresh()
}

// applyAgent merges what the guest agent reported into a status.
func applyAgent(status *launcherv1.DomainStatus, agent agentState) {
	status.AgentConnected = agent.connected
	if !agent.connected {
		return
	}
	status.GuestOs = agent.os
	for _, iface := range status.Interfaces {
		if gi, ok := agent.interfaces[strings.ToLower(iface.Mac)]; ok {
			iface.InterfaceName, iface.Ips = gi.name, gi.ips
		}
	}
}

// agentCommand runs one guest agent command and decodes its "return" into out.
func agentCommand(d *libvirt.Domain, command string, args map[string]any, out any) error {
	req := map[string]any{"execute": command}
	if args != nil {
		req["arguments"] = args
	}
	data, err := json.Marshal(req)
	if err != nil {
		return err
	}
	answer, err := d.QemuAgentCommand(string(data), libvirt.DomainQemuAgentCommandTimeout(agentTimeout), 0)
	if err != nil {
		return err
	}
	var resp struct {
		Return json.RawMessage `json:"return"`
	}
	if err := json.Unmarshal([]byte(answer), &resp); err != nil {
		return fmt.Errorf("the guest agent's answer to %s does not parse: %w", command, err)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(resp.Return, out)
}

// agentDomain is the domain, when a guest agent is connected to it; the caller frees it.
func (m *Manager) agentDomain() (*libvirt.Domain, error) {
	d, err := m.lookup()
	if err != nil {
		return nil, err
	}
	if xml, err := d.GetXMLDesc(0); err != nil || !agentConnectedInXML(xml) {
		d.Free()
		return nil, ErrNoAgent
	}
	return d, nil
}

// GuestAgentInfo asks the guest agent what KubeVirt's guestosinfo subresource shows.
func (m *Manager) GuestAgentInfo() (*v1.VirtualMachineInstanceGuestAgentInfo, error) {
	d, err := m.agentDomain()
	if err != nil {
		return nil, err
	}
	defer d.Free()
	out := &v1.VirtualMachineInstanceGuestAgentInfo{}
	out.Kind, out.APIVersion = "VirtualMachineInstanceGuestAgentInfo", v1.SchemeGroupVersion.String()
	var gaInfo struct {
		Version  string `json:"version"`
		Commands []struct {
			Name    string `json:"name"`
			Enabled bool   `json:"enabled"`
		} `json:"supported_commands"`
	}
	if err := agentCommand(d, "guest-info", nil, &gaInfo); err != nil {
		return nil, fmt.Errorf("asking the guest agent: %w", err)
	}
	out.GAVersion = gaInfo.Version
	for _, c := range gaInfo.Commands {
		out.SupportedCommands = append(out.SupportedCommands, v1.GuestAgentCommandInfo{Name: c.Name, Enabled: c.Enabled})
	}
	// Each part on its own: a guest agent may not support every command (the guest's
	// OS decides), and what it does answer is still worth showing.
	types := []libvirt.DomainGuestInfoTypes{libvirt.DOMAIN_GUEST_INFO_OS, libvirt.DOMAIN_GUEST_INFO_HOSTNAME,
		libvirt.DOMAIN_GUEST_INFO_TIMEZONE, libvirt.DOMAIN_GUEST_INFO_USERS, libvirt.DOMAIN_GUEST_INFO_FILESYSTEM}
	for _, t := range types {
		info, err := d.GetGuestInfo(t, 0)
		if err != nil {
			// libvirt runs one agent command per domain at a time; a poll may hold it.
			m.log.V(1).Info("guest info", "type", t, "error", err.Error())
			if info, err = d.GetGuestInfo(t, 0); err != nil {
				continue
			}
		}
		if info.OS != nil {
			out.OS = v1.VirtualMachineInstanceGuestOSInfo{Name: info.OS.Name, KernelRelease: info.OS.KernelRelease, Version: info.OS.Version,
				PrettyName: info.OS.PrettyName, VersionID: info.OS.VersionID, KernelVersion: info.OS.KernelVersion, Machine: info.OS.Machine, ID: info.OS.ID}
		}
		if info.HostnameSet {
			out.Hostname = info.Hostname
		}
		if tz := info.TimeZone; tz != nil && tz.Name != "" {
			out.Timezone = tz.Name + ", " + strconv.Itoa(tz.Offset)
		}
		for _, u := range info.Users {
			out.UserList = append(out.UserList, v1.VirtualMachineInstanceGuestOSUser{UserName: u.Name, Domain: u.Domain, LoginTime: float64(u.LoginTime) / 1000})
		}
		for _, fs := range info.FileSystems {
			f := v1.VirtualMachineInstanceFileSystem{DiskName: fs.Name, MountPoint: fs.MountPoint, FileSystemType: fs.FSType,
				UsedBytes: int(fs.UsedBytes), TotalBytes: int(fs.TotalBytes)}
			for _, disk := range fs.Disks {
				f.Disk = append(f.Disk, v1.VirtualMachineInstanceFileSystemDisk{Serial: disk.Serial, BusType: busOf(disk.Alias)})
			}
			out.FSInfo.Filesystems = append(out.FSInfo.Filesystems, f)
		}
	}
	if out.OS == (v1.VirtualMachineInstanceGuestOSInfo{}) {
		// What the poller last read, when the agent was busy just now.
		m.mu.Lock()
		if os := m.agent.os; os != nil {
			out.OS = v1.VirtualMachineInstanceGuestOSInfo{Name: os.Name, KernelRelease: os.KernelRelease, Version: os.Version,
				PrettyName: os.PrettyName, VersionID: os.VersionId, KernelVersion: os.KernelVersion, Machine: os.Machine, ID: os.Id}
		}
		m.mu.Unlock()
	}
	return out, nil
}

// busOf guesses a disk's bus from libvirt's device alias (virtio-disk0, sata0-0-0, ...).
func busOf(alias string) string {
	for _, bus := range []string{"virtio", "sata", "scsi", "usb"} {
		if strings.HasPrefix(alias, bus) {
			return bus
		}
	}
	return ""
}

// sentinelReadSize is how much of the sentinel is read: it holds "success".
const sentinelReadSize = 64

// BootstrapSentinel reads Cluster API's bootstrap sentinel through the guest agent.
func (m *Manager) BootstrapSentinel() (*launcherv1.BootstrapSentinelResponse, error) {
	d, err := m.agentDomain()
	if err != nil {
		return nil, err
	}
	defer d.Free()
	var handle int64
	if err := agentCommand(d, "guest-file-open", map[string]any{"path": sentinelPath, "mode": "r"}, &handle); err != nil {
		if strings.Contains(err.Error(), "No such file or directory") {
			return &launcherv1.BootstrapSentinelResponse{Found: false}, nil
		}
		return nil, fmt.Errorf("opening %s through the guest agent: %w", sentinelPath, err)
	}
	defer func() { _ = agentCommand(d, "guest-file-close", map[string]any{"handle": handle}, nil) }()
	var read struct {
		Count int    `json:"count"`
		Buf   string `json:"buf-b64"`
	}
	if err := agentCommand(d, "guest-file-read", map[string]any{"handle": handle, "count": sentinelReadSize}, &read); err != nil {
		return nil, fmt.Errorf("reading %s through the guest agent: %w", sentinelPath, err)
	}
	content, err := base64.StdEncoding.DecodeString(read.Buf)
	if err != nil {
		return nil, fmt.Errorf("the guest agent's read of %s does not decode: %w", sentinelPath, err)
	}
	return &launcherv1.BootstrapSentinelResponse{Found: true, Content: string(content)}, nil
}
