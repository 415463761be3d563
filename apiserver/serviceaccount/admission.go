package serviceaccount

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/rand"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/store"
)

// The token volume the Admission plugin gives pods.
const (
	// DefaultServiceAccountName is the account of pods that name none.
	DefaultServiceAccountName = "default"
	// TokenMountPath is where containers find the token, ca.crt and
	// namespace files.
	TokenMountPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// TokenVolumePrefix starts the generated volume's name.
	TokenVolumePrefix = "kube-api-access-"
	// RootCAConfigMap is the ConfigMap of every namespace that holds the
	// cluster CA bundle under RootCAKey.
	RootCAConfigMap = "kube-root-ca.crt"
	RootCAKey       = "ca.crt"
	// TokenExpirationSeconds is the lifetime the token volume asks for
	// (one hour and a few seconds, as Kubernetes).
	TokenExpirationSeconds = 3607
)

// Admission is the ServiceAccount admission plugin. Admit, on pod
// creation, sets the account ("default" when none); unless the pod or the
// account turns automounting off, adds the token volume and mounts it in
// every container (unless one mounts something there already); and gives a
// pod without image pull secrets those of its account. Validate
// refuses pods whose account does not exist. Mirror pods (from node agents'
// static manifests) may not use service accounts at all.
type Admission struct {
	lookup Lookup
}

// NewAdmission returns the plugin; lookup finds service accounts.
func NewAdmission(lookup Lookup) *Admission { return &Admission{lookup: lookup} }

var (
	_ apiserver.MutatingAdmission   = (*Admission)(nil)
	_ apiserver.ValidatingAdmission = (*Admission)(nil)
)

func isPodCreate(req *apiserver.AdmissionRequest) (*corev1.Pod, bool) {
	if req.Operation != apiserver.Create || req.Subresource != "" || req.Resource.Group != "" || req.Resource.Resource != "pods" {
		return nil, false
	}
	pod, ok := req.Object.(*corev1.Pod)
	return pod, ok
}

func isMirror(pod *corev1.Pod) bool {
	_, ok := pod.Annotations[corev1.MirrorPodAnnotationKey]
	return ok
}

// Admit implements apiserver.MutatingAdmission.
func (p *Admission) Admit(ctx context.Context, req *apiserver.AdmissionRequest) error {
	pod, ok := isPodCreate(req)
	if !ok || isMirror(pod) {
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		pod.Spec.ServiceAccountName = DefaultServiceAccountName
	}
	pod.Spec.DeprecatedServiceAccount = pod.Spec.ServiceAccountName
	sa, err := p.account(ctx, req, pod)
	if err != nil {
		return err
	}
	automount := true
	switch {
	case pod.Spec.AutomountServiceAccountToken != nil:
		automount = *pod.Spec.AutomountServiceAccountToken
	case sa.AutomountServiceAccountToken != nil:
		automount = *sa.AutomountServiceAccountToken
	}
	if automount {
		addTokenVolume(pod)
	}
	if len(pod.Spec.ImagePullSecrets) == 0 && len(sa.ImagePullSecrets) > 0 {
		pod.Spec.ImagePullSecrets = append([]corev1.LocalObjectReference(nil), sa.ImagePullSecrets...)
	}
	return nil
}

// Validate implements apiserver.ValidatingAdmission.
func (p *Admission) Validate(ctx context.Context, req *apiserver.AdmissionRequest) error {
	pod, ok := isPodCreate(req)
	if !ok {
		return nil
	}
	if isMirror(pod) {
		if pod.Spec.ServiceAccountName != "" {
			return apierrors.NewForbidden(req.Resource.GroupResource(), req.Name, errors.New("a mirror pod may not reference service accounts"))
		}
		return nil
	}
	if pod.Spec.ServiceAccountName == "" {
		return apierrors.NewForbidden(req.Resource.GroupResource(), req.Name, errors.New("no service account: spec.serviceAccountName is empty"))
	}
	_, err := p.account(ctx, req, pod)
	return err
}

func (p *Admission) account(ctx context.Context, req *apiserver.AdmissionRequest, pod *corev1.Pod) (*corev1.ServiceAccount, error) {
	sa, err := p.lookup.ServiceAccount(ctx, req.Namespace, pod.Spec.ServiceAccountName)
	if errors.Is(err, store.ErrNotFound) {
		return nil, apierrors.NewForbidden(req.Resource.GroupResource(), req.Name,
			fmt.Errorf("error looking up service account %s/%s: serviceaccount %q not found", req.Namespace, pod.Spec.ServiceAccountName, pod.Spec.ServiceAccountName))
	}
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("looking up service account %s/%s: %w", req.Namespace, pod.Spec.ServiceAccountName, err))
	}
	return sa, nil
}

// addTokenVolume adds the projected token volume and its mounts, unless a
// container mounts something at TokenMountPath already (then the pod
// brings its own credentials and none is added).
func addTokenVolume(pod *corev1.Pod) {
	containers := make([]*corev1.Container, 0, len(pod.Spec.InitContainers)+len(pod.Spec.Containers))
	for i := range pod.Spec.InitContainers {
		containers = append(containers, &pod.Spec.InitContainers[i])
	}
	for i := range pod.Spec.Containers {
		containers = append(containers, &pod.Spec.Containers[i])
	}
	for _, c := range containers {
		for _, m := range c.VolumeMounts {
			if m.MountPath == TokenMountPath {
				return
			}
		}
	}
	name := tokenVolumeName(pod)
	pod.Spec.Volumes = append(pod.Spec.Volumes, TokenVolume(name))
	for _, c := range containers {
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: TokenMountPath})
	}
}

// tokenVolumeName picks an unused kube-api-access-xxxxx name.
func tokenVolumeName(pod *corev1.Pod) string {
	for {
		name := TokenVolumePrefix + rand.String(5)
		taken := false
		for _, v := range pod.Spec.Volumes {
			taken = taken || v.Name == name
		}
		if !taken {
			return name
		}
	}
}

// TokenVolume is the projected volume of a pod's credentials: token (a
// TokenRequest token for the API server), ca.crt and namespace.
func TokenVolume(name string) corev1.Volume {
	expiration := int64(TokenExpirationSeconds)
	mode := int32(0o644)
	return corev1.Volume{
		Name: name,
		VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			DefaultMode: &mode,
			Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: &expiration}},
				{ConfigMap: &corev1.ConfigMapProjection{
					LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap},
					Items:                []corev1.KeyToPath{{Key: RootCAKey, Path: RootCAKey}},
				}},
				{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
					Path:     "namespace",
					FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
				}}}},
			},
		}},
	}
}
