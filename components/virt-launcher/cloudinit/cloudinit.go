// Package cloudinit writes the disks cloud-init reads its data from: a NoCloud ISO
// (volume label cidata: meta-data, user-data, network-config) or a ConfigDrive ISO
// (label config-2: openstack/latest/{meta_data.json,user_data,network_data.json}), as
// KubeVirt builds them. The ISOs are built in-process (ISO 9660 with Rock Ridge names).
package cloudinit

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"

	diskfs "github.com/diskfs/go-diskfs"
	"github.com/diskfs/go-diskfs/disk"
	"github.com/diskfs/go-diskfs/filesystem"
	"github.com/diskfs/go-diskfs/filesystem/iso9660"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// Source is the cloud-init data of one volume, resolved to bytes.
type Source struct {
	// ConfigDrive selects the ConfigDrive layout instead of NoCloud.
	ConfigDrive bool
	UserData    []byte
	NetworkData []byte
	// InstanceID identifies the instance to cloud-init; a new one makes it run again.
	InstanceID string
	// Hostname the guest takes.
	Hostname string
}

// Resolve reads a cloudInitNoCloud or cloudInitConfigDrive volume's data. Data from a
// Secret is read from secretDir/<volume>/ (the Secret is mounted there by the pod), under
// the keys KubeVirt reads: userdata or userData, networkdata or networkData.
func Resolve(vmi *v1.VirtualMachineInstance, vol *v1.Volume, secretDir string) (*Source, error) {
	src := &Source{InstanceID: string(vmi.UID), Hostname: vmi.Spec.Hostname}
	if src.Hostname == "" {
		src.Hostname = vmi.Name
	}
	var userData, userDataB64, networkData, networkDataB64 string
	var userSecret, networkSecret bool
	switch {
	case vol.CloudInitNoCloud != nil:
		c := vol.CloudInitNoCloud
		userData, userDataB64, networkData, networkDataB64 = c.UserData, c.UserDataBase64, c.NetworkData, c.NetworkDataBase64
		userSecret, networkSecret = c.UserDataSecretRef != nil, c.NetworkDataSecretRef != nil
	case vol.CloudInitConfigDrive != nil:
		c := vol.CloudInitConfigDrive
		src.ConfigDrive = true
		userData, userDataB64, networkData, networkDataB64 = c.UserData, c.UserDataBase64, c.NetworkData, c.NetworkDataBase64
		userSecret, networkSecret = c.UserDataSecretRef != nil, c.NetworkDataSecretRef != nil
	default:
		return nil, fmt.Errorf("volume %q is not a cloud-init volume", vol.Name)
	}
	var err error
	if src.UserData, err = pick(vol.Name, "userData", userData, userDataB64, userSecret, secretDir, "userdata", "userData"); err != nil {
		return nil, err
	}
	if src.NetworkData, err = pick(vol.Name, "networkData", networkData, networkDataB64, networkSecret, secretDir, "networkdata", "networkData"); err != nil {
		return nil, err
	}
	return src, nil
}

func pick(volume, what, plain, b64 string, fromSecret bool, secretDir string, keys ...string) ([]byte, error) {
	switch {
	case plain != "":
		return []byte(plain), nil
	case b64 != "":
		data, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("volume %q: %sBase64 is not valid base64: %w", volume, what, err)
		}
		return data, nil
	case fromSecret:
		for _, key := range keys {
			data, err := os.ReadFile(filepath.Join(secretDir, volume, key))
			if err == nil {
				return data, nil
			}
			if !errors.Is(err, fs.ErrNotExist) {
				return nil, err
			}
		}
		return nil, fmt.Errorf("volume %q: the Secret has no %s key (nor %s)", volume, keys[0], keys[1])
	}
	return nil, nil
}

// files lays out the data source.
func (s *Source) files() (map[string][]byte, string, error) {
	if !s.ConfigDrive {
		files := map[string][]byte{
			"meta-data": []byte(fmt.Sprintf("instance-id: %s\nlocal-hostname: %s\n", s.InstanceID, s.Hostname)),
			"user-data": s.UserData,
		}
		if s.NetworkData != nil {
			files["network-config"] = s.NetworkData
		}
		return files, "cidata", nil
	}
	meta, err := json.Marshal(map[string]string{"uuid": s.InstanceID, "instance_id": s.InstanceID, "hostname": s.Hostname, "name": s.Hostname})
	if err != nil {
		return nil, "", err
	}
	files := map[string][]byte{"openstack/latest/meta_data.json": meta}
	if s.UserData != nil {
		files["openstack/latest/user_data"] = s.UserData
	}
	if s.NetworkData != nil {
		files["openstack/latest/network_data.json"] = s.NetworkData
	}
	return files, "config-2", nil
}

// WriteISO writes the data source as an ISO image to path, replacing what is there.
func (s *Source) WriteISO(path string) error {
	files, label, err := s.files()
	if err != nil {
		return err
	}
	size := int64(1 << 20) // room for the descriptors and directories
	for _, data := range files {
		size += int64(len(data)) + 2048
	}
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	img, err := diskfs.Create(tmp, size, diskfs.SectorSizeDefault)
	if err != nil {
		return fmt.Errorf("creating %s: %w", tmp, err)
	}
	defer img.Close()
	img.LogicalBlocksize = 2048
	fsys, err := img.CreateFilesystem(disk.FilesystemSpec{Partition: 0, FSType: filesystem.TypeISO9660, VolumeLabel: label})
	if err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if dir := filepath.Dir(name); dir != "." {
			if err := fsys.Mkdir("/" + dir); err != nil {
				return err
			}
		}
		f, err := fsys.OpenFile("/"+name, os.O_CREATE|os.O_RDWR)
		if err != nil {
			return err
		}
		if _, err := f.Write(files[name]); err != nil {
			return err
		}
	}
	iso, ok := fsys.(*iso9660.FileSystem)
	if !ok {
		return fmt.Errorf("unexpected file system type %T", fsys)
	}
	if err := iso.Finalize(iso9660.FinalizeOptions{RockRidge: true, VolumeIdentifier: label}); err != nil {
		return fmt.Errorf("writing the ISO: %w", err)
	}
	return os.Rename(tmp, path)
}
