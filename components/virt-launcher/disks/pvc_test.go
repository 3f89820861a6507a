package disks

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

func claimVMI(readOnly bool, info *v1.PersistentVolumeClaimInfo) (*v1.VirtualMachineInstance, *v1.Volume) {
	vol := v1.Volume{Name: "data", VolumeSource: v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{
		PersistentVolumeClaimVolumeSource: k8sv1.PersistentVolumeClaimVolumeSource{ClaimName: "data-claim", ReadOnly: readOnly},
	}}}
	vmi := &v1.VirtualMachineInstance{Spec: v1.VirtualMachineInstanceSpec{Volumes: []v1.Volume{vol}}}
	if info != nil {
		vmi.Status.VolumeStatus = []v1.VolumeStatus{{Name: "data", PersistentVolumeClaimInfo: info}}
	}
	return vmi, &vmi.Spec.Volumes[0]
}

func TestClaimDiskImageIsMadeOnceAtTheClaimsSize(t *testing.T) {
	p := &Preparer{PVCDisksDir: t.TempDir()}
	if err := os.Mkdir(filepath.Join(p.PVCDisksDir, "data"), 0o777); err != nil {
		t.Fatal(err)
	}
	// Unbound claims have no capacity yet: the request sizes the image.
	vmi, vol := claimVMI(false, &v1.PersistentVolumeClaimInfo{ClaimName: "data-claim",
		Requests: k8sv1.ResourceList{k8sv1.ResourceStorage: resource.MustParse("64Mi")}})
	src, err := p.persistentVolumeClaim(vmi, vol)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(p.PVCDisksDir, "data", "disk.img"); src.Path != want || src.Format != "raw" || src.Block {
		t.Fatalf("source %+v, want raw file %s", src, want)
	}
	st, err := os.Stat(src.Path)
	if err != nil {
		t.Fatal(err)
	}
	// 64 MiB less 5.5% is 60.48 MiB: 60 whole MiB.
	if st.Size() != 60<<20 {
		t.Errorf("disk.img is %d bytes, want %d", st.Size(), 60<<20)
	}

	// The guest's data is never replaced: a later start keeps the image, whatever its size.
	if err := os.WriteFile(src.Path, []byte("guest data"), 0o660); err != nil {
		t.Fatal(err)
	}
	vmi.Status.VolumeStatus[0].PersistentVolumeClaimInfo.Capacity = k8sv1.ResourceList{k8sv1.ResourceStorage: resource.MustParse("1Gi")}
	if _, err := p.persistentVolumeClaim(vmi, vol); err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(src.Path); string(data) != "guest data" {
		t.Errorf("disk.img was rewritten: %q", data)
	}
}

func TestClaimDiskRefusals(t *testing.T) {
	p := &Preparer{PVCDisksDir: t.TempDir()}
	if err := os.Mkdir(filepath.Join(p.PVCDisksDir, "data"), 0o777); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		readOnly bool
		info     *v1.PersistentVolumeClaimInfo
		want     string
	}{
		{"a read-only claim without an image", true, &v1.PersistentVolumeClaimInfo{}, "the read-only claim data-claim holds no disk.img"},
		{"no size recorded", false, nil, "recorded no claim size"},
		{"no size at all", false, &v1.PersistentVolumeClaimInfo{}, "neither a capacity nor a storage request"},
		{"more than the filesystem has, beyond the tolerance", false, &v1.PersistentVolumeClaimInfo{
			Capacity: k8sv1.ResourceList{k8sv1.ResourceStorage: resource.MustParse("1Ei")}}, "grow the claim or free space on it"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vmi, vol := claimVMI(tc.readOnly, tc.info)
			_, err := p.persistentVolumeClaim(vmi, vol)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `volume "data"`) {
				t.Errorf("error %v, want one naming the volume and saying %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(p.PVCDisksDir, "data", "disk.img")); !os.IsNotExist(err) {
				t.Errorf("a refused claim got a disk.img (%v)", err)
			}
		})
	}
}
