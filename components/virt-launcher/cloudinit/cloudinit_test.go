package cloudinit_test

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	k8sv1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	v1 "github.com/hypernest/hypernest/api/core/v1"
	"github.com/hypernest/hypernest/components/virt-launcher/cloudinit"
)

// readISO extracts an ISO with xorriso (Debian's, a reader independent of the writer)
// and returns its files, by the Rock Ridge names a guest sees, and its volume label.
func readISO(t *testing.T, path string) (map[string]string, string) {
	t.Helper()
	xorriso, err := exec.LookPath("xorriso")
	if err != nil {
		t.Fatal("xorriso is needed to read the ISO back; run hack/install-deps.sh")
	}
	dir := t.TempDir()
	if out, err := exec.Command(xorriso, "-osirrox", "on", "-indev", path, "-extract", "/", dir).CombinedOutput(); err != nil {
		t.Fatalf("xorriso cannot read %s: %v\n%s", path, err, out)
	}
	files := map[string]string{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(p)
		files[strings.TrimPrefix(p, dir)] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(xorriso, "-indev", path, "-pvd_info").CombinedOutput()
	if err != nil {
		t.Fatalf("xorriso -pvd_info: %v\n%s", err, out)
	}
	label := ""
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "Volume Id") {
			label = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
		}
	}
	return files, label
}

func vmi() *v1.VirtualMachineInstance {
	return &v1.VirtualMachineInstance{ObjectMeta: metav1.ObjectMeta{Name: "vm1", Namespace: "ns", UID: "uid-1"}}
}

func TestNoCloudISO(t *testing.T) {
	vol := &v1.Volume{Name: "ci", VolumeSource: v1.VolumeSource{CloudInitNoCloud: &v1.CloudInitNoCloudSource{
		UserDataBase64: "IyEvYmluL3NoCmVjaG8gaGk=", // "#!/bin/sh\necho hi"
		NetworkData:    "version: 2\n",
	}}}
	src, err := cloudinit.Resolve(vmi(), vol, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(t.TempDir(), "ci.iso")
	if err := src.WriteISO(iso); err != nil {
		t.Fatal(err)
	}
	files, label := readISO(t, iso)
	if label != "cidata" {
		t.Errorf("label %q, want cidata", label)
	}
	want := map[string]string{
		"/meta-data":      "instance-id: uid-1\nlocal-hostname: vm1\n",
		"/user-data":      "#!/bin/sh\necho hi",
		"/network-config": "version: 2\n",
	}
	for name, content := range want {
		if files[name] != content {
			t.Errorf("%s = %q, want %q (files: %v)", name, files[name], content, files)
		}
	}
}

func TestConfigDriveISOFromSecret(t *testing.T) {
	secrets := t.TempDir()
	if err := os.MkdirAll(filepath.Join(secrets, "ci"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(secrets, "ci", "userData"), []byte("#cloud-config\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	vol := &v1.Volume{Name: "ci", VolumeSource: v1.VolumeSource{CloudInitConfigDrive: &v1.CloudInitConfigDriveSource{
		UserDataSecretRef: &k8sv1.LocalObjectReference{Name: "my-secret"},
	}}}
	src, err := cloudinit.Resolve(vmi(), vol, secrets)
	if err != nil {
		t.Fatal(err)
	}
	iso := filepath.Join(t.TempDir(), "ci.iso")
	if err := src.WriteISO(iso); err != nil {
		t.Fatal(err)
	}
	files, label := readISO(t, iso)
	if label != "config-2" {
		t.Errorf("label %q, want config-2", label)
	}
	if files["/openstack/latest/user_data"] != "#cloud-config\n" {
		t.Errorf("user_data = %q (files: %v)", files["/openstack/latest/user_data"], files)
	}
	if files["/openstack/latest/meta_data.json"] == "" {
		t.Errorf("no meta_data.json (files: %v)", files)
	}
}

func TestMissingSecretKeyIsNamed(t *testing.T) {
	vol := &v1.Volume{Name: "ci", VolumeSource: v1.VolumeSource{CloudInitNoCloud: &v1.CloudInitNoCloudSource{
		UserDataSecretRef: &k8sv1.LocalObjectReference{Name: "my-secret"},
	}}}
	_, err := cloudinit.Resolve(vmi(), vol, t.TempDir())
	if err == nil || err.Error() != `volume "ci": the Secret has no userdata key (nor userData)` {
		t.Fatalf("unexpected error: %v", err)
	}
}
