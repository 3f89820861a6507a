package framework

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/onsi/gomega/gexec"
)

// Nobody is the unprivileged user the integration tests run virt-launcher as (in a pod it
// is uid 107; any non-root uid proves the same).
const Nobody = 65534

// BuildLauncher builds virt-launcher into a fresh folder that Nobody can read and run,
// and returns the binary's path and the folder (remove it when done).
func BuildLauncher() (binary, dir string, err error) {
	built, err := gexec.Build("github.com/hypernest/hypernest/components/virt-launcher")
	if err != nil {
		return "", "", err
	}
	dir, err = os.MkdirTemp("", "hypernest-launcher-bin-")
	if err != nil {
		return "", "", err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return "", dir, err
	}
	data, err := os.ReadFile(built)
	if err != nil {
		return "", dir, err
	}
	binary = filepath.Join(dir, "virt-launcher")
	return binary, dir, os.WriteFile(binary, data, 0o755)
}

// LauncherDirs are the folders a launcher pod's volumes give virt-launcher.
type LauncherDirs struct {
	Sockets, Private, ContainerDisks string
}

// NewLauncherDirs makes a launcher's folders: sockets and private (owned by Nobody, as
// the pod's emptyDirs are), and a containerDisk volume named "containerdisk" holding
// disk (the demo disk).
func NewLauncherDirs(sockets, private, containerDisks, disk string) (LauncherDirs, error) {
	d := LauncherDirs{Sockets: sockets, Private: private, ContainerDisks: containerDisks}
	for _, dir := range []string{sockets, private} {
		// The folders above stay open to Nobody, as the kubelet's are.
		if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
			return d, err
		}
		if err := os.Mkdir(dir, 0o700); err != nil {
			return d, err
		}
		if err := os.Chown(dir, Nobody, Nobody); err != nil {
			return d, err
		}
	}
	diskDir := filepath.Join(containerDisks, "containerdisk", "disk")
	if err := os.MkdirAll(diskDir, 0o755); err != nil {
		return d, err
	}
	data, err := os.ReadFile(disk)
	if err != nil {
		return d, err
	}
	return d, os.WriteFile(filepath.Join(diskDir, filepath.Base(disk)), data, 0o444)
}

// Command is virt-launcher run as Nobody on these folders, with short grace periods.
func (d LauncherDirs) Command(binary string) *exec.Cmd {
	cmd := exec.Command(binary, "--sockets-dir", d.Sockets, "--private-dir", d.Private,
		"--container-disks-dir", d.ContainerDisks, "--final-grace", "2s", "--termination-grace", "20s")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody}}
	return cmd
}

// KillProcessesOf kills every process whose environment names root (a launcher's
// libvirtd and QEMU outlive a killed launcher otherwise).
func KillProcessesOf(root string) {
	procs, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, environ := range procs {
		data, err := os.ReadFile(environ)
		if err != nil || !strings.Contains(string(data), root) {
			continue
		}
		var pid int
		if _, err := fmt.Sscanf(environ, "/proc/%d/environ", &pid); err == nil && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}
