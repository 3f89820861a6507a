package cmd

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	k8sv1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"

	v1 "github.com/hypernest/hypernest/api/core/v1"
)

// Names and defaults of `virtctl create vm`, KubeVirt's.
const (
	defaultGracePeriodSeconds = 180 // KubeVirt's create vm default
	defaultCreateMemory       = "512Mi"
	cloudInitDiskName         = "cloudinitdisk"
)

func newCreateCommand(cfg *clientConfig) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Print manifests of new objects (virtctl create vm ... | kubectl apply -f -).",
	}
	cmd.AddCommand(newCreateVMCommand(cfg))
	return cmd
}

// createVM holds the flags of `virtctl create vm`.
type createVM struct {
	name, runStrategy, memory, instancetype, preference string
	gracePeriod                                         int64
	containerDisks, claims                              []string
	inferInstancetype, inferPreference                  bool
	inferInstancetypeFrom, inferPreferenceFrom          string
	cloudInit, userDataB64, networkDataB64              string
	user, passwordFile                                  string
	sshKeys                                             []string
}

// unsupportedCreateFlags are KubeVirt's create vm flags for what Hypernest does not run
// yet; they are accepted by the parser and refused with the reason, not as unknown.
var unsupportedCreateFlags = map[string]string{
	"volume-import":     "DataVolumes (CDI) are not supported by Hypernest yet",
	"volume-datasource": "DataVolumes (CDI) are not supported by Hypernest yet",
	"volume-clone-pvc":  "DataVolumes (CDI) are not supported by Hypernest yet",
	"volume-blank":      "DataVolumes (CDI) are not supported by Hypernest yet",
	"volume-sysprep":    "sysprep volumes are not supported by Hypernest yet",
	"access-cred":       "accessCredentials are not supported by Hypernest yet",
	"ga-manage-ssh":     "accessCredentials are not supported by Hypernest yet",
}

func newCreateVMCommand(cfg *clientConfig) *cobra.Command {
	c := &createVM{runStrategy: string(v1.RunStrategyAlways), memory: defaultCreateMemory, gracePeriod: defaultGracePeriodSeconds, cloudInit: "nocloud"}
	cmd := &cobra.Command{
		Use:   "vm",
		Short: "Print the manifest of a VirtualMachine, as KubeVirt's virtctl create vm does.",
		Example: `  # A VM with a random name, 512Mi and a container disk:
  virtctl create vm --volume-containerdisk=src:quay.io/containerdisks/fedora:latest | kubectl apply -f -

  # Sized by a cluster instance type, with a namespaced preference:
  virtctl create vm --name=my-vm --instancetype=u1.medium --preference=virtualmachinepreference/fedora \
    --volume-containerdisk=src:registry:5000/kubevirt/cirros-container-disk-demo:devel

  # With a user and an SSH key in generated cloud-init user data:
  virtctl create vm --user cloud-user --ssh-key="ssh-ed25519 AAAA...."`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for flag, why := range unsupportedCreateFlags {
				if cmd.Flags().Changed(flag) {
					return flagErr(flag, "%s", why)
				}
			}
			ns, overridden, err := cfg.loader.Namespace()
			if err != nil || !overridden {
				ns = "" // like KubeVirt: the namespace is written only when given
			}
			vm, err := c.build(cmd, ns)
			if err != nil {
				return err
			}
			out, err := yaml.Marshal(vm)
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(out)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.name, "name", "", "name of the VM (default: vm-<random>)")
	f.StringVar(&c.runStrategy, "run-strategy", c.runStrategy, "run strategy of the VM")
	f.Int64Var(&c.gracePeriod, "termination-grace-period", c.gracePeriod, "seconds the guest gets to shut down")
	f.StringVar(&c.memory, "memory", c.memory, "guest memory (not with --instancetype)")
	f.StringVar(&c.instancetype, "instancetype", "", "instance type, [kind/]name (kind: virtualmachineinstancetype or virtualmachineclusterinstancetype, the default)")
	f.StringVar(&c.preference, "preference", "", "preference, [kind/]name (kind: virtualmachinepreference or virtualmachineclusterpreference, the default)")
	f.StringArrayVar(&c.containerDisks, "volume-containerdisk", nil, "a container disk: src:<image>[,name:<name>][,bootorder:<n>] (repeatable)")
	f.StringArrayVar(&c.claims, "volume-pvc", nil, "a PersistentVolumeClaim in the VM's namespace: src:<claim>[,name:<name>][,bootorder:<n>] (repeatable)")
	f.BoolVar(&c.inferInstancetype, "infer-instancetype", true, "infer the instance type from the boot volume's claim labels (with --volume-pvc)")
	f.StringVar(&c.inferInstancetypeFrom, "infer-instancetype-from", "", "the volume to infer the instance type from")
	f.BoolVar(&c.inferPreference, "infer-preference", true, "infer the preference from the boot volume's claim labels (with --volume-pvc)")
	f.StringVar(&c.inferPreferenceFrom, "infer-preference-from", "", "the volume to infer the preference from")
	f.StringVar(&c.cloudInit, "cloud-init", c.cloudInit, "cloud-init data source: nocloud, configdrive or none")
	f.StringVar(&c.userDataB64, "cloud-init-user-data", "", "base64 cloud-init user data (instead of --user, --password-file, --ssh-key)")
	f.StringVar(&c.networkDataB64, "cloud-init-network-data", "", "base64 cloud-init network data")
	f.StringVar(&c.user, "user", "", "user in the generated cloud-init user data")
	f.StringVar(&c.passwordFile, "password-file", "", "file holding the user's password, for the generated cloud-init user data (stored in clear text in the VM)")
	f.StringSliceVar(&c.sshKeys, "ssh-key", nil, "SSH public key for the generated cloud-init user data (repeatable)")
	cmd.MarkFlagsMutuallyExclusive("memory", "instancetype", "infer-instancetype", "infer-instancetype-from")
	cmd.MarkFlagsMutuallyExclusive("preference", "infer-preference", "infer-preference-from")
	for _, other := range []string{"user", "password-file", "ssh-key"} {
		cmd.MarkFlagsMutuallyExclusive("cloud-init-user-data", other)
	}
	for flag := range unsupportedCreateFlags {
		f.String(flag, "", "not supported by Hypernest yet")
		if err := f.MarkHidden(flag); err != nil {
			panic(err)
		}
	}
	f.Lookup("ga-manage-ssh").NoOptDefVal = "true"
	return cmd
}

// flagErr is KubeVirt's wording for a bad flag value.
func flagErr(flag, format string, args ...any) error {
	return fmt.Errorf("failed to parse \"--%s\" flag: %s", flag, fmt.Sprintf(format, args...))
}

func (c *createVM) build(cmd *cobra.Command, namespace string) (*v1.VirtualMachine, error) {
	name := c.name
	if name == "" {
		name = "vm-" + utilrand.String(5)
	}
	if errs := validation.IsDNS1123Subdomain(name); len(errs) > 0 {
		return nil, flagErr("name", "invalid name %q: %s", name, strings.Join(errs, ", "))
	}
	strategy := v1.RunStrategy(c.runStrategy)
	switch strategy {
	case v1.RunStrategyAlways, v1.RunStrategyHalted, v1.RunStrategyManual, v1.RunStrategyRerunOnFailure, v1.RunStrategyOnce:
	default:
		return nil, flagErr("run-strategy", "invalid run strategy %q: Always, Halted, Manual, RerunOnFailure or Once", c.runStrategy)
	}
	vm := &v1.VirtualMachine{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1.SchemeGroupVersion.String(), Kind: "VirtualMachine"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace},
		Spec: v1.VirtualMachineSpec{
			RunStrategy: &strategy,
			Template: &v1.VirtualMachineInstanceTemplateSpec{Spec: v1.VirtualMachineInstanceSpec{
				TerminationGracePeriodSeconds: &c.gracePeriod,
			}},
		},
	}
	if c.instancetype != "" {
		kind, itName, err := prefixedName("instancetype", c.instancetype, "virtualmachineinstancetype", "virtualmachineclusterinstancetype")
		if err != nil {
			return nil, err
		}
		// An empty kind is the cluster kind (virt-api and virt-controller read it so).
		vm.Spec.Instancetype = &v1.InstancetypeMatcher{Name: itName, Kind: kind}
	} else {
		memory, err := resource.ParseQuantity(c.memory)
		if err != nil {
			return nil, flagErr("memory", "%v", err)
		}
		vm.Spec.Template.Spec.Domain.Memory = &v1.Memory{Guest: &memory}
	}
	if c.preference != "" {
		kind, prefName, err := prefixedName("preference", c.preference, "virtualmachinepreference", "virtualmachineclusterpreference")
		if err != nil {
			return nil, err
		}
		vm.Spec.Preference = &v1.PreferenceMatcher{Name: prefName, Kind: kind}
	}
	// KubeVirt's order: container disks, then claims.
	bootOrders := map[uint]string{}
	for i, spec := range c.containerDisks {
		err := addVolume(vm, bootOrders, "volume-containerdisk", spec, func(src string) (string, v1.VolumeSource, error) {
			return fmt.Sprintf("%s-containerdisk-%d", name, i), v1.VolumeSource{ContainerDisk: &v1.ContainerDiskSource{Image: src}}, nil
		})
		if err != nil {
			return nil, err
		}
	}
	for _, spec := range c.claims {
		err := addVolume(vm, bootOrders, "volume-pvc", spec, func(src string) (string, v1.VolumeSource, error) {
			if ns, claim, found := strings.Cut(src, "/"); found {
				return "", v1.VolumeSource{}, flagErr("volume-pvc", "not allowed to specify namespace of pvc %q (%s)", claim, ns)
			}
			return src, v1.VolumeSource{PersistentVolumeClaim: &v1.PersistentVolumeClaimVolumeSource{
				PersistentVolumeClaimVolumeSource: k8sv1.PersistentVolumeClaimVolumeSource{ClaimName: src},
			}}, nil
		})
		if err != nil {
			return nil, err
		}
	}
	if err := c.inferFromVolume(cmd, vm, bootOrders); err != nil {
		return nil, err
	}
	if err := c.addCloudInit(cmd, vm); err != nil {
		return nil, err
	}
	return vm, nil
}

// inferFromVolume asks virt-api to infer the instance type and preference from a claim's
// labels, as KubeVirt's virtctl does: by default from the boot volume (lowest boot order,
// else the first) when it is a claim, ignoring failures and keeping the memory as a
// fallback; when asked explicitly, failures are errors and the memory is left out.
func (c *createVM) inferFromVolume(cmd *cobra.Command, vm *v1.VirtualMachine, bootOrders map[uint]string) error {
	explicitIT := cmd.Flags().Changed("infer-instancetype") || cmd.Flags().Changed("infer-instancetype-from")
	explicitPref := cmd.Flags().Changed("infer-preference") || cmd.Flags().Changed("infer-preference-from")
	ignore := v1.IgnoreInferFromVolumeFailure
	if (c.inferInstancetype || c.inferInstancetypeFrom != "") && c.instancetype == "" && !cmd.Flags().Changed("memory") {
		volume, err := inferVolume(vm, c.inferInstancetypeFrom, bootOrders)
		switch {
		case err != nil && explicitIT:
			return err
		case err == nil:
			vm.Spec.Instancetype = &v1.InstancetypeMatcher{InferFromVolume: volume}
			if explicitIT {
				vm.Spec.Template.Spec.Domain.Memory = nil
			} else {
				vm.Spec.Instancetype.InferFromVolumeFailurePolicy = &ignore
			}
		}
	}
	if (c.inferPreference || c.inferPreferenceFrom != "") && c.preference == "" {
		volume, err := inferVolume(vm, c.inferPreferenceFrom, bootOrders)
		switch {
		case err != nil && explicitPref:
			return err
		case err == nil:
			vm.Spec.Preference = &v1.PreferenceMatcher{InferFromVolume: volume}
			if !explicitPref {
				vm.Spec.Preference.InferFromVolumeFailurePolicy = &ignore
			}
		}
	}
	return nil
}

// inferVolume is the volume to infer from: the named one, else the boot volume; it must
// be a claim.
func inferVolume(vm *v1.VirtualMachine, name string, bootOrders map[uint]string) (string, error) {
	volumes := vm.Spec.Template.Spec.Volumes
	if name == "" {
		if len(volumes) == 0 {
			return "", fmt.Errorf("at least one volume is needed to infer an instance type or preference")
		}
		name = volumes[0].Name
		if len(bootOrders) > 0 {
			name = bootOrders[slices.Min(slices.Collect(maps.Keys(bootOrders)))]
		}
	}
	for _, vol := range volumes {
		if vol.Name == name {
			if vol.PersistentVolumeClaim == nil {
				return "", fmt.Errorf("inference of instancetype or preference works only with datasources, datavolumes or pvcs")
			}
			return name, nil
		}
	}
	return "", fmt.Errorf("there is no volume with name %q", name)
}

func (c *createVM) addCloudInit(cmd *cobra.Command, vm *v1.VirtualMachine) error {
	changed := false
	for _, flag := range []string{"cloud-init-user-data", "cloud-init-network-data", "user", "password-file", "ssh-key"} {
		changed = changed || cmd.Flags().Changed(flag)
	}
	if !changed {
		return nil
	}
	if hasVolume(vm, cloudInitDiskName) {
		return fmt.Errorf("there is already a volume with name %q", cloudInitDiskName)
	}
	userData := ""
	if c.userDataB64 == "" {
		config := "#cloud-config"
		if c.user != "" {
			config += "\nuser: " + c.user
		}
		if c.passwordFile != "" {
			data, err := os.ReadFile(c.passwordFile)
			if err != nil {
				return flagErr("password-file", "%v", err)
			}
			if password := strings.TrimSpace(string(data)); password != "" {
				fmt.Fprintf(cmd.ErrOrStderr(), "WARNING: --password-file: The password is stored in cleartext in the VM definition!\n")
				config += fmt.Sprintf("\npassword: %s\nchpasswd: { expire: False }", password)
			}
		}
		if len(c.sshKeys) > 0 {
			config += "\nssh_authorized_keys:"
			for _, key := range c.sshKeys {
				config += "\n  - " + key
			}
		}
		userData = config
	}
	var source v1.VolumeSource
	switch strings.ToLower(c.cloudInit) {
	case "nocloud":
		source.CloudInitNoCloud = &v1.CloudInitNoCloudSource{UserData: userData, UserDataBase64: c.userDataB64, NetworkDataBase64: c.networkDataB64}
	case "configdrive":
		source.CloudInitConfigDrive = &v1.CloudInitConfigDriveSource{UserData: userData, UserDataBase64: c.userDataB64, NetworkDataBase64: c.networkDataB64}
	case "none":
		fmt.Fprintf(cmd.ErrOrStderr(), "WARNING: --cloud-init: was set to none, not creating a data source although other cloud-init options were set\n")
		return nil
	default:
		return flagErr("cloud-init", "invalid cloud-init data source type %q, supported values are: nocloud, configdrive, none", c.cloudInit)
	}
	vm.Spec.Template.Spec.Volumes = append(vm.Spec.Template.Spec.Volumes, v1.Volume{Name: cloudInitDiskName, VolumeSource: source})
	return nil
}

// prefixedName splits [kind/]name; kind must be one of kinds (any casing).
func prefixedName(flag, value string, kinds ...string) (string, string, error) {
	parts := strings.Split(value, "/")
	switch len(parts) {
	case 1:
		return "", parts[0], nil
	case 2:
		kind := strings.ToLower(parts[0])
		for _, k := range kinds {
			if kind == k {
				return kind, parts[1], nil
			}
		}
		return "", "", flagErr(flag, "invalid %s kind %q, supported values are: %s", flag, parts[0], strings.Join(kinds, ", "))
	}
	return "", "", flagErr(flag, "invalid count %d of slashes in prefix/name", len(parts)-1)
}

// flagParams parses key:value,key:value, accepting only known keys.
func flagParams(flag, value string, known ...string) (map[string]string, error) {
	out := map[string]string{}
	for _, pair := range strings.Split(value, ",") {
		key, val, ok := strings.Cut(pair, ":")
		if !ok {
			return nil, flagErr(flag, "params need to have at least one colon: %s", pair)
		}
		if !slices.Contains(known, key) {
			return nil, flagErr(flag, "unknown param(s): %s", pair)
		}
		out[key] = val
	}
	return out, nil
}

// addVolume adds the volume one --volume-* flag value describes
// (src:<source>[,name:<name>][,bootorder:<n>]), with a disk when it has a boot order.
// source turns src into the volume's default name and source.
func addVolume(vm *v1.VirtualMachine, bootOrders map[uint]string, flag, spec string,
	source func(src string) (string, v1.VolumeSource, error)) error {
	params, err := flagParams(flag, spec, "src", "name", "bootorder")
	if err != nil {
		return err
	}
	if params["src"] == "" {
		return flagErr(flag, "src must be specified")
	}
	defaultName, volumeSource, err := source(params["src"])
	if err != nil {
		return err
	}
	volName := params["name"]
	if volName == "" {
		volName = defaultName
	}
	if errs := validation.IsDNS1123Label(volName); len(errs) > 0 {
		return flagErr(flag, "invalid name %q: %s", volName, strings.Join(errs, ","))
	}
	if hasVolume(vm, volName) {
		return flagErr(flag, "there is already a volume with name %q", volName)
	}
	vm.Spec.Template.Spec.Volumes = append(vm.Spec.Template.Spec.Volumes, v1.Volume{Name: volName, VolumeSource: volumeSource})
	if b := params["bootorder"]; b != "" {
		order, err := strconv.ParseUint(b, 10, 32)
		if err != nil || order == 0 {
			return flagErr(flag, "bootorder must be greater than 0")
		}
		if other, taken := bootOrders[uint(order)]; taken {
			return flagErr(flag, "bootorder %d was specified multiple times (volume %s)", order, other)
		}
		bootOrders[uint(order)] = volName
		vm.Spec.Template.Spec.Domain.Devices.Disks = append(vm.Spec.Template.Spec.Domain.Devices.Disks, v1.Disk{
			Name: volName, BootOrder: ptr.To(uint(order)),
		})
	}
	return nil
}

func hasVolume(vm *v1.VirtualMachine, name string) bool {
	for _, vol := range vm.Spec.Template.Spec.Volumes {
		if vol.Name == name {
			return true
		}
	}
	return false
}
