package nodeagent_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/runtime"
	"github.com/gantryhq/gantry/runtime/fake"
)

// TestContainerEvents: the agent records the kubelet's events on pods, so
// kubectl describe pod shows what happened to the containers: Created and
// Started; Unhealthy for a failing probe; BackOff for a crash loop;
// ErrImageNeverPull and Failed for a missing image; Killing on deletion.
func TestContainerEvents(t *testing.T) {
	n := startFakeNode(t, fake.Options{
		Images: []string{"app:1"},
		Behavior: func(_ runtime.Sandbox, cfg runtime.ContainerConfig) fake.Behavior {
			if cfg.Name == "crash" {
				return fake.Behavior{ExitAfter: time.Second, ExitCode: 1}
			}
			return fake.Behavior{}
		},
		Exec: func(_ context.Context, _ runtime.ContainerStatus, opts runtime.ExecOptions) (int, error) {
			if slices.Equal(opts.Cmd, []string{"false"}) {
				return 1, nil
			}
			return 0, nil
		},
	}, nil)
	pods := n.admin.CoreV1().Pods("default")
	mk := func(name, container, image string, probe *corev1.Probe) {
		_, err := pods.Create(n.ctx, &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{
				Name: container, Image: image, ImagePullPolicy: corev1.PullNever, ReadinessProbe: probe,
			}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
	}
	mk("web", "app", "app:1", &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"false"}}}})
	mk("looping", "crash", "app:1", nil)
	mk("missing", "app", "absent:1", nil)

	// events are "pod type reason message" lines; hasAll wants lines that
	// start with each of want.
	events := func() []string {
		evs, err := n.admin.CoreV1().Events("default").List(n.ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range evs.Items {
			if e.Source.Component != "kubelet" || e.Source.Host != "n1" || e.InvolvedObject.Kind != "Pod" {
				continue
			}
			out = append(out, fmt.Sprintf("%s %s %s %s", e.InvolvedObject.Name, e.Type, e.Reason, e.Message))
		}
		return out
	}
	var last string // why hasAll last said no
	t.Cleanup(func() {
		if t.Failed() {
			t.Log(last)
		}
	})
	hasAll := func(want ...string) func() bool {
		return func() bool {
			got := events()
			for _, w := range want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
					last = fmt.Sprintf("missing %q in %q", w, got)
					return false
				}
			}
			return true
		}
	}
	looping := n.pod("looping")
	n.eventually("the container lifecycle events", hasAll(
		"web Normal Created Created container: app",
		"web Normal Started Started container app",
		`web Warning Unhealthy Readiness probe failed: command "false" exited with 1`,
		"looping Normal Started Started container crash",
		fmt.Sprintf("looping Warning BackOff Back-off restarting failed container crash in pod looping_default(%s)", looping.UID),
		`missing Warning ErrImageNeverPull Container image "absent:1" is not present with pull policy of Never`,
		"missing Warning Failed Error: ErrImageNeverPull",
	))

	if err := pods.Delete(n.ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	n.eventually("a Killing event", hasAll("web Normal Killing Stopping container app"))
}
