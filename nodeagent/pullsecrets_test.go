package nodeagent_test

import (
	"context"
	"encoding/base64"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/fake"
)

// registry is a fake registry that wants alice's password for
// registry.example/team/*, and counts pulls.
type registry struct {
	mu    sync.Mutex
	pulls map[string]int
}

func (r *registry) pull(_ context.Context, ref string, auth []runtime.AuthConfig) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.pulls == nil {
		r.pulls = map[string]int{}
	}
	r.pulls[ref]++
	for _, a := range auth {
		if a.Username == "alice" && a.Password == "pw" {
			return nil
		}
	}
	return errors.New("unauthorized: authentication required")
}

func (r *registry) count(ref string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pulls[ref]
}

// TestImagePullSecrets: a pod's dockerconfigjson secret lets the image be
// pulled; without it the pull fails with ErrImagePull, then waits in
// ImagePullBackOff (10s, 20s, ...) without pulling.
func TestImagePullSecrets(t *testing.T) {
	reg := &registry{}
	n := startFakeNode(t, fake.Options{Pull: reg.pull}, nil)
	auth := base64.StdEncoding.EncodeToString([]byte("alice:pw"))
	_, err := n.admin.CoreV1().Secrets("default").Create(n.ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred"}, Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"registry.example":{"auth":"` + auth + `"}}}`)},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	const image = "registry.example/team/app:1"
	pod := func(name string, secrets ...string) *corev1.Pod {
		p := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
				Name: "app", Image: image, ImagePullPolicy: corev1.PullAlways,
			}}},
		}
		for _, s := range secrets {
			p.Spec.ImagePullSecrets = append(p.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
		}
		return p
	}
	pods := n.admin.CoreV1().Pods("default")
	_, err = pods.Create(n.ctx, pod("with", "missing", "regcred"), metav1.CreateOptions{})
	require.NoError(t, err)
	n.eventually("the pod with the secret runs", func() bool { return n.pod("with").Status.Phase == corev1.PodRunning })

	_, err = pods.Create(n.ctx, pod("without"), metav1.CreateOptions{})
	require.NoError(t, err)
	waiting := func() string {
		p := n.pod("without")
		if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
			return ""
		}
		return p.Status.ContainerStatuses[0].State.Waiting.Reason
	}
	// Without stepping the clock: the first pull fails and shows, then the
	// back-off.
	require.Eventually(t, func() bool { return reg.count(image) == 2 }, 10*time.Second, 10*time.Millisecond, "one failed pull")
	require.Eventually(t, func() bool { return waiting() == "ImagePullBackOff" }, 10*time.Second, 10*time.Millisecond)
	n.clk.Step(9 * time.Second)
	require.Never(t, func() bool { return reg.count(image) > 2 }, 200*time.Millisecond, 20*time.Millisecond, "no pull during the back-off")
	n.clk.Step(time.Second)
	require.Eventually(t, func() bool { return reg.count(image) == 3 }, 10*time.Second, 10*time.Millisecond, "a pull after 10s")
	n.clk.Step(19 * time.Second)
	require.Never(t, func() bool { return reg.count(image) > 3 }, 200*time.Millisecond, 20*time.Millisecond, "the back-off doubled")
	n.clk.Step(time.Second)
	require.Eventually(t, func() bool { return reg.count(image) == 4 }, 10*time.Second, 10*time.Millisecond, "a pull after 20s more")
	require.Equal(t, corev1.PodPending, n.pod("without").Status.Phase)

	require.Eventually(t, func() bool {
		evs, err := n.admin.CoreV1().Events("default").List(n.ctx, metav1.ListOptions{})
		require.NoError(t, err)
		reasons := map[string]bool{}
		for _, e := range evs.Items {
			reasons[e.InvolvedObject.Name+"/"+e.Reason] = true
		}
		return reasons["with/FailedToRetrieveImagePullSecret"] && reasons["without/Failed"]
	}, 10*time.Second, 10*time.Millisecond, "events for the missing secret and the failed pull")
}
