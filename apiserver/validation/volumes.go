package validation

import (
	"reflect"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const maxFileMode = 0o777

// The paths a downward API volume file may take from the pod.
var volumeFieldPaths = []string{
	"metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid",
}

var supportedHostPathTypes = []corev1.HostPathType{
	corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory,
	corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket,
	corev1.HostPathCharDev, corev1.HostPathBlockDev,
}

// volumeSourceFields are the JSON names of the fields of VolumeSource, in
// declaration order, used to name the source kinds in errors.
var volumeSourceFields = func() []string {
	t := reflect.TypeFor[corev1.VolumeSource]()
	names := make([]string, t.NumField())
	for i := range names {
		names[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	return names
}()

// volumes validates the volumes of a pod and returns them by name for the
// volume mounts to refer to.
func volumes(vols []corev1.Volume, p *field.Path) (map[string]*corev1.VolumeSource, field.ErrorList) {
	var errs field.ErrorList
	byName := make(map[string]*corev1.VolumeSource, len(vols))
	for i := range vols {
		v := &vols[i]
		vp := p.Index(i)
		np := vp.Child("name")
		switch {
		case v.Name == "":
			errs = append(errs, field.Required(np, ""))
		case byName[v.Name] != nil:
			errs = append(errs, field.Duplicate(np, v.Name))
		default:
			errs = append(errs, dnsLabel(v.Name, np)...)
			byName[v.Name] = &v.VolumeSource
		}
		errs = append(errs, volumeSource(&v.VolumeSource, vp)...)
	}
	return byName, errs
}

// volumeSource checks that exactly one kind of source is given and
// validates the common kinds.
func volumeSource(src *corev1.VolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	rv := reflect.ValueOf(src).Elem()
	n := 0
	for i := range rv.NumField() {
		if rv.Field(i).IsNil() {
			continue
		}
		if n > 0 {
			errs = append(errs, field.Forbidden(p.Child(volumeSourceFields[i]), "may not specify more than 1 volume type"))
		}
		n++
	}
	if n == 0 {
		return append(errs, field.Required(p, "must specify a volume type"))
	}
	if n > 1 {
		return errs
	}
	switch {
	case src.HostPath != nil:
		hp := p.Child("hostPath")
		if src.HostPath.Path == "" {
			errs = append(errs, field.Required(hp.Child("path"), ""))
		} else {
			errs = append(errs, noBacksteps(src.HostPath.Path, hp.Child("path"))...)
		}
		if t := src.HostPath.Type; t != nil && !slices.Contains(supportedHostPathTypes, *t) {
			errs = append(errs, field.NotSupported(hp.Child("type"), *t, supportedHostPathTypes))
		}
	case src.EmptyDir != nil:
		if l := src.EmptyDir.SizeLimit; l != nil && l.Sign() < 0 {
			errs = append(errs, field.Invalid(p.Child("emptyDir", "sizeLimit"), l.String(), nonNegativeMsg))
		}
	case src.Secret != nil:
		sp := p.Child("secret")
		if src.Secret.SecretName == "" {
			errs = append(errs, field.Required(sp.Child("secretName"), ""))
		} else {
			errs = append(errs, dnsSubdomain(src.Secret.SecretName, sp.Child("secretName"))...)
		}
		errs = append(errs, fileMode(src.Secret.DefaultMode, sp.Child("defaultMode"))...)
		errs = append(errs, keyToPaths(src.Secret.Items, sp.Child("items"))...)
	case src.ConfigMap != nil:
		cp := p.Child("configMap")
		if src.ConfigMap.Name == "" {
			errs = append(errs, field.Required(cp.Child("name"), ""))
		} else {
			errs = append(errs, dnsSubdomain(src.ConfigMap.Name, cp.Child("name"))...)
		}
		errs = append(errs, fileMode(src.ConfigMap.DefaultMode, cp.Child("defaultMode"))...)
		errs = append(errs, keyToPaths(src.ConfigMap.Items, cp.Child("items"))...)
	case src.PersistentVolumeClaim != nil:
		if src.PersistentVolumeClaim.ClaimName == "" {
			errs = append(errs, field.Required(p.Child("persistentVolumeClaim", "claimName"), ""))
		}
	case src.DownwardAPI != nil:
		dp := p.Child("downwardAPI")
		errs = append(errs, fileMode(src.DownwardAPI.DefaultMode, dp.Child("defaultMode"))...)
		errs = append(errs, downwardAPIFiles(src.DownwardAPI.Items, dp.Child("items"))...)
	case src.Projected != nil:
		errs = append(errs, projected(src.Projected, p.Child("projected"))...)
	case src.NFS != nil:
		np := p.Child("nfs")
		if src.NFS.Server == "" {
			errs = append(errs, field.Required(np.Child("server"), ""))
		}
		if src.NFS.Path == "" {
			errs = append(errs, field.Required(np.Child("path"), ""))
		} else if !strings.HasPrefix(src.NFS.Path, "/") {
			errs = append(errs, field.Invalid(np.Child("path"), src.NFS.Path, "must be an absolute path"))
		}
	case src.CSI != nil:
		if src.CSI.Driver == "" {
			errs = append(errs, field.Required(p.Child("csi", "driver"), ""))
		}
	case src.Ephemeral != nil:
		if src.Ephemeral.VolumeClaimTemplate == nil {
			errs = append(errs, field.Required(p.Child("ephemeral", "volumeClaimTemplate"), ""))
		}
	case src.Image != nil:
		ip := p.Child("image")
		if src.Image.Reference == "" {
			errs = append(errs, field.Required(ip.Child("reference"), ""))
		}
		if pp := src.Image.PullPolicy; pp != "" && !slices.Contains(supportedPullPolicies, pp) {
			errs = append(errs, field.NotSupported(ip.Child("pullPolicy"), pp, supportedPullPolicies))
		}
	}
	return errs
}

func fileMode(mode *int32, p *field.Path) field.ErrorList {
	if mode != nil && (*mode < 0 || *mode > maxFileMode) {
		return field.ErrorList{field.Invalid(p, *mode, "must be a number between 0 and 0777 (octal), both inclusive")}
	}
	return nil
}

func keyToPaths(items []corev1.KeyToPath, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		ip := p.Index(i)
		if it.Key == "" {
			errs = append(errs, field.Required(ip.Child("key"), ""))
		}
		errs = append(errs, localNonReservedPath(it.Path, ip.Child("path"))...)
		errs = append(errs, fileMode(it.Mode, ip.Child("mode"))...)
	}
	return errs
}

func downwardAPIFiles(items []corev1.DownwardAPIVolumeFile, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, it := range items {
		ip := p.Index(i)
		errs = append(errs, localNonReservedPath(it.Path, ip.Child("path"))...)
		errs = append(errs, fileMode(it.Mode, ip.Child("mode"))...)
		switch {
		case it.FieldRef != nil && it.ResourceFieldRef != nil:
			errs = append(errs, field.Invalid(ip, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		case it.FieldRef != nil:
			errs = append(errs, objectFieldSelector(it.FieldRef, volumeFieldPaths, ip.Child("fieldRef"))...)
		case it.ResourceFieldRef != nil:
			errs = append(errs, resourceFieldSelector(it.ResourceFieldRef, true, ip.Child("resourceFieldRef"))...)
		default:
			errs = append(errs, field.Required(ip, "one of fieldRef and resourceFieldRef is required"))
		}
	}
	return errs
}

func projected(src *corev1.ProjectedVolumeSource, p *field.Path) field.ErrorList {
	errs := fileMode(src.DefaultMode, p.Child("defaultMode"))
	paths := map[string]bool{}
	addPath := func(path string, pp *field.Path) {
		if paths[path] {
			errs = append(errs, field.Invalid(pp, path, "conflicting duplicate paths"))
		}
		paths[path] = true
	}
	for i, s := range src.Sources {
		sp := p.Child("sources").Index(i)
		n := 0
		one := func(set bool, name string) bool {
			if !set {
				return false
			}
			n++
			if n > 1 {
				errs = append(errs, field.Forbidden(sp.Child(name), "may not specify more than 1 volume type per source"))
				return false
			}
			return true
		}
		if one(s.Secret != nil, "secret") {
			errs = append(errs, dnsSubdomain(s.Secret.Name, sp.Child("secret", "name"))...)
			errs = append(errs, keyToPaths(s.Secret.Items, sp.Child("secret", "items"))...)
			for j, it := range s.Secret.Items {
				addPath(it.Path, sp.Child("secret", "items").Index(j).Child("path"))
			}
		}
		if one(s.ConfigMap != nil, "configMap") {
			errs = append(errs, dnsSubdomain(s.ConfigMap.Name, sp.Child("configMap", "name"))...)
			errs = append(errs, keyToPaths(s.ConfigMap.Items, sp.Child("configMap", "items"))...)
			for j, it := range s.ConfigMap.Items {
				addPath(it.Path, sp.Child("configMap", "items").Index(j).Child("path"))
			}
		}
		if one(s.DownwardAPI != nil, "downwardAPI") {
			errs = append(errs, downwardAPIFiles(s.DownwardAPI.Items, sp.Child("downwardAPI", "items"))...)
			for j, it := range s.DownwardAPI.Items {
				addPath(it.Path, sp.Child("downwardAPI", "items").Index(j).Child("path"))
			}
		}
		if one(s.ServiceAccountToken != nil, "serviceAccountToken") {
			tp := sp.Child("serviceAccountToken")
			const minTTL, maxTTL = 10 * 60, 1 << 32
			if e := s.ServiceAccountToken.ExpirationSeconds; e != nil {
				if *e < minTTL {
					errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *e, "may not specify a duration less than 10 minutes"))
				} else if *e > maxTTL {
					errs = append(errs, field.Invalid(tp.Child("expirationSeconds"), *e, "may not specify a duration larger than 2^32 seconds"))
				}
			}
			if s.ServiceAccountToken.Path == "" {
				errs = append(errs, field.Required(tp.Child("path"), ""))
			} else {
				errs = append(errs, localNonReservedPath(s.ServiceAccountToken.Path, tp.Child("path"))...)
				addPath(s.ServiceAccountToken.Path, tp.Child("path"))
			}
		}
		if one(s.ClusterTrustBundle != nil, "clusterTrustBundle") {
			errs = append(errs, field.Forbidden(sp.Child("clusterTrustBundle"), "cluster trust bundle projection is not enabled"))
		}
		if one(s.PodCertificate != nil, "podCertificate") {
			errs = append(errs, field.Forbidden(sp.Child("podCertificate"), "pod certificate projection is not enabled"))
		}
		if n == 0 {
			errs = append(errs, field.Required(sp, "must specify exactly 1 volume type"))
		}
	}
	return errs
}

// localNonReservedPath checks a file path inside a volume: required,
// relative, no ".." element and not starting with "..".
func localNonReservedPath(path string, p *field.Path) field.ErrorList {
	if path == "" {
		return field.ErrorList{field.Required(p, "")}
	}
	errs := localDescendingPath(path, p)
	if strings.HasPrefix(path, "..") && !slices.Contains(strings.Split(path, "/"), "..") {
		errs = append(errs, field.Invalid(p, path, "must not start with '..'"))
	}
	return errs
}

func noBacksteps(path string, p *field.Path) field.ErrorList {
	if slices.Contains(strings.Split(strings.ReplaceAll(path, `\`, "/"), "/"), "..") {
		return field.ErrorList{field.Invalid(p, path, "must not contain '..'")}
	}
	return nil
}
