package validation

import (
	"encoding/json"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// MaxDataSize is the largest total size of the data of a ConfigMap or a
// Secret: 1 MiB, as in Kubernetes (etcd's request limit with room to spare).
const MaxDataSize = 1 << 20

const immutableSetMsg = "field is immutable when `immutable` is set"

// ConfigMap validates a config map: keys of data and binaryData are valid
// config map keys (alphanumerics, '-', '_', '.'), no key is in both, and the
// values together are at most 1 MiB.
func ConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	errs := ObjectMeta(&cm.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	return append(errs, configMapData(cm)...)
}

func configMapData(cm *corev1.ConfigMap) field.ErrorList {
	var errs field.ErrorList
	size := 0
	dp, bp := field.NewPath("data"), field.NewPath("binaryData")
	for _, k := range sortedKeys(cm.Data) {
		errs = append(errs, messages(dp.Key(k), k, validation.IsConfigMapKey(k))...)
		if _, dup := cm.BinaryData[k]; dup {
			errs = append(errs, field.Invalid(dp.Key(k), k, "duplicate of key present in binaryData"))
		}
		size += len(cm.Data[k])
	}
	for _, k := range sortedKeys(cm.BinaryData) {
		errs = append(errs, messages(bp.Key(k), k, validation.IsConfigMapKey(k))...)
		if _, dup := cm.Data[k]; dup {
			errs = append(errs, field.Invalid(bp.Key(k), k, "duplicate of key present in data"))
		}
		size += len(cm.BinaryData[k])
	}
	if size > MaxDataSize {
		// The empty path ("[]" in messages): the error is about the whole
		// object, as Kubernetes reports it.
		errs = append(errs, field.TooLong(field.NewPath(""), "", MaxDataSize))
	}
	return errs
}

// ConfigMapUpdate validates an update of a config map: metadata rules, the
// new data, and nothing changed but metadata once the config map is
// immutable.
func ConfigMapUpdate(newCM, oldCM *corev1.ConfigMap) field.ErrorList {
	errs := ObjectMetaUpdate(&newCM.ObjectMeta, &oldCM.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, configMapData(newCM)...)
	if oldCM.Immutable != nil && *oldCM.Immutable {
		if newCM.Immutable == nil || !*newCM.Immutable {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableSetMsg))
		}
		errs = append(errs, immutableWhenSet(newCM.Data, oldCM.Data, field.NewPath("data"))...)
		errs = append(errs, immutableWhenSet(newCM.BinaryData, oldCM.BinaryData, field.NewPath("binaryData"))...)
	}
	return errs
}

func immutableWhenSet(newVal, oldVal any, p *field.Path) field.ErrorList {
	if len(immutable(newVal, oldVal, p)) > 0 {
		return field.ErrorList{field.Forbidden(p, immutableSetMsg)}
	}
	return nil
}

// Secret validates a secret: data keys, total size at most 1 MiB, and the
// keys its type requires (a service account token names its service
// account; docker config secrets hold valid JSON; basic-auth, ssh-auth and
// TLS secrets hold their credentials).
func Secret(s *corev1.Secret) field.ErrorList {
	errs := ObjectMeta(&s.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	return append(errs, secretData(s)...)
}

func secretData(s *corev1.Secret) field.ErrorList {
	var errs field.ErrorList
	dp := field.NewPath("data")
	size := 0
	for _, k := range sortedKeys(s.Data) {
		errs = append(errs, messages(dp.Key(k), k, validation.IsConfigMapKey(k))...)
		size += len(s.Data[k])
	}
	if size > MaxDataSize {
		errs = append(errs, field.TooLong(dp, "", MaxDataSize))
	}
	requireKey := func(key string) bool {
		if _, ok := s.Data[key]; !ok {
			errs = append(errs, field.Required(dp.Key(key), ""))
			return false
		}
		return true
	}
	requireJSON := func(key string) {
		if requireKey(key) && !json.Valid(s.Data[key]) {
			errs = append(errs, field.Invalid(dp.Key(key), "<secret contents redacted>", "must be valid JSON"))
		}
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			errs = append(errs, field.Required(field.NewPath("metadata", "annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg:
		requireJSON(corev1.DockerConfigKey)
	case corev1.SecretTypeDockerConfigJson:
		requireJSON(corev1.DockerConfigJsonKey)
	case corev1.SecretTypeBasicAuth:
		_, user := s.Data[corev1.BasicAuthUsernameKey]
		_, pass := s.Data[corev1.BasicAuthPasswordKey]
		if !user && !pass {
			errs = append(errs, field.Required(dp.Key(corev1.BasicAuthUsernameKey), ""))
			errs = append(errs, field.Required(dp.Key(corev1.BasicAuthPasswordKey), ""))
		}
	case corev1.SecretTypeSSHAuth:
		if len(s.Data[corev1.SSHAuthPrivateKey]) == 0 {
			errs = append(errs, field.Required(dp.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		requireKey(corev1.TLSCertKey)
		requireKey(corev1.TLSPrivateKeyKey)
	}
	return errs
}

// SecretUpdate validates an update of a secret: metadata rules, the new
// data, an immutable type, and nothing changed but metadata once the secret
// is immutable.
func SecretUpdate(newS, oldS *corev1.Secret) field.ErrorList {
	errs := ObjectMetaUpdate(&newS.ObjectMeta, &oldS.ObjectMeta, field.NewPath("metadata"))
	errs = append(errs, secretData(newS)...)
	errs = append(errs, immutable(newS.Type, oldS.Type, field.NewPath("type"))...)
	if oldS.Immutable != nil && *oldS.Immutable {
		if newS.Immutable == nil || !*newS.Immutable {
			errs = append(errs, field.Forbidden(field.NewPath("immutable"), immutableSetMsg))
		}
		errs = append(errs, immutableWhenSet(newS.Data, oldS.Data, field.NewPath("data"))...)
	}
	return errs
}

// ServiceAccount validates a service account: metadata, and names of the
// secrets and image pull secrets it refers to.
func ServiceAccount(sa *corev1.ServiceAccount) field.ErrorList {
	errs := ObjectMeta(&sa.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	return append(errs, serviceAccountRefs(sa)...)
}

func serviceAccountRefs(sa *corev1.ServiceAccount) field.ErrorList {
	var errs field.ErrorList
	for i, s := range sa.Secrets {
		if s.Name != "" {
			errs = append(errs, dnsSubdomain(s.Name, field.NewPath("secrets").Index(i).Child("name"))...)
		}
	}
	for i, s := range sa.ImagePullSecrets {
		if s.Name != "" {
			errs = append(errs, dnsSubdomain(s.Name, field.NewPath("imagePullSecrets").Index(i).Child("name"))...)
		}
	}
	return errs
}

// ServiceAccountUpdate validates an update of a service account.
func ServiceAccountUpdate(newSA, oldSA *corev1.ServiceAccount) field.ErrorList {
	errs := ObjectMetaUpdate(&newSA.ObjectMeta, &oldSA.ObjectMeta, field.NewPath("metadata"))
	return append(errs, serviceAccountRefs(newSA)...)
}
