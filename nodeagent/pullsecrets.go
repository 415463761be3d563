package nodeagent

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/distribution/reference"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantryhq/gantry/runtime"
)

// pullImage makes a container's image present with the credentials of the
// pod's image pull secrets. A failed pull returns ErrImagePull and starts
// a back-off (BackOff doubling up to MaxBackOff) during which the image is
// not pulled again and the container waits with ImagePullBackOff.
func (a *Agent) pullImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (reason string, err error) {
	key := pullKey{uid: pod.UID, container: c.Name}
	if wait, last := a.pulls.waiting(key, a.clock.Now()); wait > 0 {
		return "ImagePullBackOff", fmt.Errorf("Back-off pulling image %q: %s", c.Image, last)
	}
	var auth []runtime.AuthConfig
	if policy := c.ImagePullPolicy; policy != corev1.PullNever && len(pod.Spec.ImagePullSecrets) > 0 {
		auth = a.pullAuth(ctx, pod, c.Image)
	}
	_, err = a.rt.PullImage(ctx, c.Image, runtime.PullOptions{Policy: runtime.PullPolicy(c.ImagePullPolicy), Auth: auth})
	switch {
	case err == nil:
		a.pulls.succeeded(key)
		return "", nil
	case errors.Is(err, runtime.ErrImageNeverPull):
		a.warn(pod, "ErrImageNeverPull", fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image))
		return "ErrImageNeverPull", fmt.Errorf("container image %q is not present with pull policy of Never", c.Image)
	case ctx.Err() != nil:
		return "ErrImagePull", err
	}
	a.pulls.failed(key, a.clock.Now(), a.backoff, err.Error())
	a.warn(pod, "Failed", fmt.Sprintf("Failed to pull image %q: %v", c.Image, err))
	return "ErrImagePull", err
}

// retryAfter is when a container that could not start is tried again: at
// the end of its image pull back-off, or after def.
func (a *Agent) retryAfter(pod *corev1.Pod, c *corev1.Container, def time.Duration) time.Duration {
	if wait, _ := a.pulls.waiting(pullKey{uid: pod.UID, container: c.Name}, a.clock.Now()); wait > 0 {
		return wait
	}
	return def
}

// pullAuth returns the registry credentials of the pod's image pull
// secrets (kubernetes.io/dockerconfigjson and kubernetes.io/dockercfg) that
// apply to image, the most specific first. Secrets that are missing or
// malformed are skipped (a warning event says so) and the pull goes on
// with the others, or anonymously, as the kubelet does.
func (a *Agent) pullAuth(ctx context.Context, pod *corev1.Pod, image string) []runtime.AuthConfig {
	var keyring []registryAuth
	for _, ref := range pod.Spec.ImagePullSecrets {
		if ref.Name == "" {
			continue
		}
		s, err := a.cs.CoreV1().Secrets(pod.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		if err == nil {
			var auths []registryAuth
			if auths, err = parsePullSecret(s); err == nil {
				keyring = append(keyring, auths...)
				continue
			}
		}
		if apierrors.IsNotFound(err) {
			err = errors.New("not found")
		}
		msg := fmt.Sprintf("Unable to retrieve some image pull secrets (%s/%s): %v; attempting to pull the image may not succeed.", pod.Namespace, ref.Name, err)
		a.warn(pod, "FailedToRetrieveImagePullSecret", msg)
	}
	return matchAuth(keyring, image)
}

// registryAuth are the credentials of one registry entry of a pull secret.
type registryAuth struct {
	// host and path are what the entry's key matches: a registry host
	// (with port) and an optional repository path prefix.
	host, path string
	auth       runtime.AuthConfig
}

// dockerConfigEntry is one registry of a .dockerconfigjson or .dockercfg.
type dockerConfigEntry struct {
	Username      string `json:"username,omitempty"`
	Password      string `json:"password,omitempty"`
	Auth          string `json:"auth,omitempty"`
	IdentityToken string `json:"identitytoken,omitempty"`
	RegistryToken string `json:"registrytoken,omitempty"`
}

// parsePullSecret reads the registry credentials of an image pull secret.
func parsePullSecret(s *corev1.Secret) ([]registryAuth, error) {
	var entries map[string]dockerConfigEntry
	switch s.Type {
	case corev1.SecretTypeDockerConfigJson:
		var cfg struct {
			Auths map[string]dockerConfigEntry `json:"auths"`
		}
		data, ok := s.Data[corev1.DockerConfigJsonKey]
		if !ok {
			return nil, fmt.Errorf("secret has no %s", corev1.DockerConfigJsonKey)
		}
		if err := json.Unmarshal(data, &cfg); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", corev1.DockerConfigJsonKey, err)
		}
		entries = cfg.Auths
	case corev1.SecretTypeDockercfg:
		data, ok := s.Data[corev1.DockerConfigKey]
		if !ok {
			return nil, fmt.Errorf("secret has no %s", corev1.DockerConfigKey)
		}
		if err := json.Unmarshal(data, &entries); err != nil {
			return nil, fmt.Errorf("decoding %s: %w", corev1.DockerConfigKey, err)
		}
	default:
		return nil, fmt.Errorf("secret type %q is not %s or %s", s.Type, corev1.SecretTypeDockerConfigJson, corev1.SecretTypeDockercfg)
	}
	out := make([]registryAuth, 0, len(entries))
	for key, e := range entries {
		host, path := registryKey(key)
		if host == "" {
			continue
		}
		ac := runtime.AuthConfig{ServerAddress: host, Username: e.Username, Password: e.Password, Auth: e.Auth,
			IdentityToken: e.IdentityToken, RegistryToken: e.RegistryToken}
		if ac.Username == "" && ac.Password == "" && ac.Auth != "" {
			// Docker's clients send username and password; decode auth.
			if raw, err := base64.StdEncoding.DecodeString(ac.Auth); err == nil {
				if u, p, ok := strings.Cut(string(raw), ":"); ok {
					ac.Username, ac.Password = u, p
				}
			}
		}
		out = append(out, registryAuth{host: host, path: path, auth: ac})
	}
	return out, nil
}

// dockerHub are the names Docker Hub goes by in registry keys.
var dockerHub = map[string]bool{"docker.io": true, "index.docker.io": true, "registry-1.docker.io": true}

// registryKey reads a registry key of a docker config ("https://index.
// docker.io/v1/", "registry.example:5000/team") as the host and path
// prefix it matches. Docker Hub's names all read as docker.io.
func registryKey(key string) (host, path string) {
	key = strings.TrimSpace(key)
	if !strings.Contains(key, "://") {
		key = "https://" + key
	}
	u, err := url.Parse(key)
	if err != nil || u.Host == "" {
		return "", ""
	}
	host = strings.ToLower(u.Host)
	if dockerHub[host] {
		host = "docker.io"
	}
	path = strings.Trim(u.Path, "/")
	if path == "v1" || path == "v2" {
		path = ""
	}
	return host, path
}

// matchAuth returns the credentials of keyring that apply to image, those
// with the longest path prefix first.
func matchAuth(keyring []registryAuth, image string) []runtime.AuthConfig {
	named, err := reference.ParseNormalizedNamed(image)
	if err != nil {
		return nil
	}
	host, path := reference.Domain(named), reference.Path(named)
	var match []registryAuth
	for _, e := range keyring {
		if e.host == strings.ToLower(host) && (e.path == "" || path == e.path || strings.HasPrefix(path, e.path+"/")) {
			match = append(match, e)
		}
	}
	sort.SliceStable(match, func(i, j int) bool { return len(match[i].path) > len(match[j].path) })
	out := make([]runtime.AuthConfig, len(match))
	for i, e := range match {
		out[i] = e.auth
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// pullKey names a container of a pod, for the image pull back-off.
type pullKey struct {
	uid       types.UID
	container string
}

type pullFailure struct {
	count uint32
	until time.Time
	msg   string
}

// pullBackoff keeps the image pull back-off of containers. Safe for
// concurrent use; the zero value is ready.
type pullBackoff struct {
	mu       sync.Mutex
	failures map[pullKey]*pullFailure
}

// waiting says how long key's back-off still lasts, and the last error.
func (p *pullBackoff) waiting(key pullKey, now time.Time) (time.Duration, string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.failures[key]
	if f == nil || !now.Before(f.until) {
		return 0, ""
	}
	return f.until.Sub(now), f.msg
}

// failed records a failed pull at now: the next waits b.delay(failures).
func (p *pullBackoff) failed(key pullKey, now time.Time, b *backoff, msg string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.failures == nil {
		p.failures = map[pullKey]*pullFailure{}
	}
	f := p.failures[key]
	if f == nil {
		f = &pullFailure{}
		p.failures[key] = f
	}
	f.until, f.msg = now.Add(b.delay(f.count)), msg
	f.count++
}

func (p *pullBackoff) succeeded(key pullKey) {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.failures, key)
}

// forget drops the records of pods not in live.
func (p *pullBackoff) forget(live map[types.UID]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.failures {
		if !live[k.uid] {
			delete(p.failures, k)
		}
	}
}
