package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"math/big"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// defaultFileMode is the mode of the files of configMap, secret,
// downwardAPI and projected volumes when the pod gives none (0644, as in
// Kubernetes: containers may run as any user).
const defaultFileMode = 0o644

// errSourceNotFound marks a configMap or secret a volume needs that does not
// exist: the pod waits for it.
var errSourceNotFound = errors.New("not found")

func fileMode(item *int32, def *int32) fs.FileMode {
	switch {
	case item != nil:
		return fs.FileMode(*item) & fs.ModePerm
	case def != nil:
		return fs.FileMode(*def) & fs.ModePerm
	}
	return defaultFileMode
}

// keyFiles maps the keys of a config map or secret to files: every key
// when items is empty, else the keys items name, at their paths. A key an
// item names that is missing is an error unless the source is optional.
func keyFiles(kind, name string, data map[string][]byte, items []corev1.KeyToPath, defaultMode *int32, optional bool, out map[string]volumeFile) error {
	if len(items) == 0 {
		for _, k := range slices.Sorted(maps.Keys(data)) {
			out[k] = volumeFile{data: data[k], mode: fileMode(nil, defaultMode)}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional {
				continue
			}
			return fmt.Errorf("%s %q has no key %q", kind, name, it.Key)
		}
		out[it.Path] = volumeFile{data: v, mode: fileMode(it.Mode, defaultMode)}
	}
	return nil
}

// configMapData reads a config map's data and binary data by name (from
// the cache unless fresh). found is false when it does not exist.
func (m *volumeManager) configMapData(ctx context.Context, namespace, name string, fresh bool) (data map[string][]byte, found bool, err error) {
	return m.objects.get(ctx, objectKey{"configmap", namespace, name}, fresh, func(ctx context.Context) (map[string][]byte, bool, error) {
		return m.getConfigMap(ctx, namespace, name)
	})
}

func (m *volumeManager) getConfigMap(ctx context.Context, namespace, name string) (data map[string][]byte, found bool, err error) {
	cm, err := m.cs.CoreV1().ConfigMaps(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("configmap %q: %w", name, err)
	}
	data = make(map[string][]byte, len(cm.Data)+len(cm.BinaryData))
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return data, true, nil
}

// secretData reads a secret's data by name (from the cache unless fresh).
// found is false when it does not exist. The data is never logged.
func (m *volumeManager) secretData(ctx context.Context, namespace, name string, fresh bool) (data map[string][]byte, found bool, err error) {
	return m.objects.get(ctx, objectKey{"secret", namespace, name}, fresh, func(ctx context.Context) (map[string][]byte, bool, error) {
		return m.getSecret(ctx, namespace, name)
	})
}

func (m *volumeManager) getSecret(ctx context.Context, namespace, name string) (data map[string][]byte, found bool, err error) {
	s, err := m.cs.CoreV1().Secrets(namespace).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("secret %q: %w", name, err)
	}
	return s.Data, true, nil
}

// configMapFiles are the files of a configMap volume.
func (m *volumeManager) configMapFiles(ctx context.Context, pod *corev1.Pod, src *corev1.ConfigMapVolumeSource, fresh bool) (map[string]volumeFile, error) {
	out := map[string]volumeFile{}
	data, found, err := m.configMapData(ctx, pod.Namespace, src.Name, fresh)
	if err != nil {
		return nil, err
	}
	if !found {
		if optional(src.Optional) {
			return out, nil
		}
		return nil, fmt.Errorf("configmap %q %w", src.Name, errSourceNotFound)
	}
	return out, keyFiles("configmap", src.Name, data, src.Items, src.DefaultMode, optional(src.Optional), out)
}

// secretFiles are the files of a secret volume.
func (m *volumeManager) secretFiles(ctx context.Context, pod *corev1.Pod, src *corev1.SecretVolumeSource, fresh bool) (map[string]volumeFile, error) {
	out := map[string]volumeFile{}
	data, found, err := m.secretData(ctx, pod.Namespace, src.SecretName, fresh)
	if err != nil {
		return nil, err
	}
	if !found {
		if optional(src.Optional) {
			return out, nil
		}
		return nil, fmt.Errorf("secret %q %w", src.SecretName, errSourceNotFound)
	}
	return out, keyFiles("secret", src.SecretName, data, src.Items, src.DefaultMode, optional(src.Optional), out)
}

// downwardAPIFiles are the files of a downwardAPI volume or projection.
func (m *volumeManager) downwardAPIFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, defaultMode *int32, out map[string]volumeFile) error {
	for _, it := range items {
		var v string
		switch {
		case it.FieldRef != nil:
			var err error
			if v, err = volumeField(pod, it.FieldRef.FieldPath); err != nil {
				return fmt.Errorf("%s: %w", it.Path, err)
			}
		case it.ResourceFieldRef != nil:
			var err error
			if v, err = m.resourceField(pod, it.ResourceFieldRef); err != nil {
				return fmt.Errorf("%s: %w", it.Path, err)
			}
		default:
			return fmt.Errorf("%s: neither fieldRef nor resourceFieldRef", it.Path)
		}
		out[it.Path] = volumeFile{data: []byte(v), mode: fileMode(it.Mode, defaultMode)}
	}
	return nil
}

// volumeField is a field of the pod as a downwardAPI volume file shows it:
// labels and annotations one key="value" line each, sorted by key.
func volumeField(pod *corev1.Pod, path string) (string, error) {
	var m map[string]string
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		m = pod.Labels
	case "metadata.annotations":
		m = pod.Annotations
	default:
		for prefix, mm := range map[string]map[string]string{"metadata.labels": pod.Labels, "metadata.annotations": pod.Annotations} {
			if key, ok := strings.CutPrefix(path, prefix+"['"); ok && strings.HasSuffix(key, "']") {
				return mm[strings.TrimSuffix(key, "']")], nil
			}
		}
		return "", fmt.Errorf("unsupported field path %q", path)
	}
	lines := make([]string, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		lines = append(lines, fmt.Sprintf("%s=%q", k, m[k]))
	}
	return strings.Join(lines, "\n"), nil
}

// resourceField is a container's request or limit divided by the divisor
// (default 1) and rounded up; an unset limit is the node's capacity.
func (m *volumeManager) resourceField(pod *corev1.Pod, ref *corev1.ResourceFieldSelector) (string, error) {
	var c *corev1.Container
	for _, list := range [][]corev1.Container{pod.Spec.Containers, pod.Spec.InitContainers} {
		for i := range list {
			if list[i].Name == ref.ContainerName {
				c = &list[i]
			}
		}
	}
	if c == nil {
		return "", fmt.Errorf("resourceFieldRef: no container %q", ref.ContainerName)
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok || (kind != "limits" && kind != "requests") {
		return "", fmt.Errorf("resourceFieldRef: unsupported resource %q", ref.Resource)
	}
	res := corev1.ResourceName(name)
	switch res {
	case corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourceEphemeralStorage:
	default:
		if !strings.HasPrefix(name, corev1.ResourceHugePagesPrefix) {
			return "", fmt.Errorf("resourceFieldRef: unsupported resource %q", ref.Resource)
		}
	}
	var q resource.Quantity
	var set bool
	if kind == "limits" {
		q, set = c.Resources.Limits[res]
		if !set {
			q, set = m.capacity[res]
		}
	} else {
		q, set = c.Resources.Requests[res]
		if !set {
			q = c.Resources.Limits[res] // a request defaults to the limit, else 0
		}
	}
	divisor := ref.Divisor
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	return divideRoundUp(q, divisor), nil
}

// divideRoundUp is ceil(q/d) as a decimal integer, exact for any
// quantities (CPU in millicores divided by 1m, memory by 1Mi, ...).
func divideRoundUp(q, d resource.Quantity) string {
	n, dd := q.AsDec().UnscaledBig(), d.AsDec().UnscaledBig()
	// q = n * 10^-qs, d = dd * 10^-ds.
	qs, ds := int64(q.AsDec().Scale()), int64(d.AsDec().Scale())
	num := new(big.Int).Set(n)
	den := new(big.Int).Set(dd)
	ten := big.NewInt(10)
	if qs > ds {
		den.Mul(den, new(big.Int).Exp(ten, big.NewInt(qs-ds), nil))
	} else if ds > qs {
		num.Mul(num, new(big.Int).Exp(ten, big.NewInt(ds-qs), nil))
	}
	if den.Sign() == 0 {
		return "0"
	}
	quo, rem := new(big.Int).QuoRem(num, den, new(big.Int))
	if rem.Sign() > 0 {
		quo.Add(quo, big.NewInt(1))
	}
	return quo.String()
}

// projectedFiles are the files of a projected volume: its sources merged
// into one directory.
func (m *volumeManager) projectedFiles(ctx context.Context, pod *corev1.Pod, src *corev1.ProjectedVolumeSource, fresh bool) (map[string]volumeFile, error) {
	out := map[string]volumeFile{}
	for i, s := range src.Sources {
		switch {
		case s.ConfigMap != nil:
			data, found, err := m.configMapData(ctx, pod.Namespace, s.ConfigMap.Name, fresh)
			if err != nil {
				return nil, err
			}
			if !found {
				if optional(s.ConfigMap.Optional) {
					continue
				}
				return nil, fmt.Errorf("configmap %q %w", s.ConfigMap.Name, errSourceNotFound)
			}
			if err := keyFiles("configmap", s.ConfigMap.Name, data, s.ConfigMap.Items, src.DefaultMode, optional(s.ConfigMap.Optional), out); err != nil {
				return nil, err
			}
		case s.Secret != nil:
			data, found, err := m.secretData(ctx, pod.Namespace, s.Secret.Name, fresh)
			if err != nil {
				return nil, err
			}
			if !found {
				if optional(s.Secret.Optional) {
					continue
				}
				return nil, fmt.Errorf("secret %q %w", s.Secret.Name, errSourceNotFound)
			}
			if err := keyFiles("secret", s.Secret.Name, data, s.Secret.Items, src.DefaultMode, optional(s.Secret.Optional), out); err != nil {
				return nil, err
			}
		case s.DownwardAPI != nil:
			if err := m.downwardAPIFiles(pod, s.DownwardAPI.Items, src.DefaultMode, out); err != nil {
				return nil, err
			}
		case s.ServiceAccountToken != nil:
			tok, err := m.tokens.token(ctx, pod, s.ServiceAccountToken)
			if err != nil {
				return nil, err
			}
			out[s.ServiceAccountToken.Path] = volumeFile{data: []byte(tok), mode: fileMode(nil, src.DefaultMode)}
		default:
			return nil, fmt.Errorf("source %d: unsupported projection", i)
		}
	}
	return out, nil
}
