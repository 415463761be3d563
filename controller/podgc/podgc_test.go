package podgc_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/gantryhq/gantry/apiserver"
	"github.com/gantryhq/gantry/controller/controllertest"
	"github.com/gantryhq/gantry/controller/podgc"
)

func TestPodGC(t *testing.T) {
	s := controllertest.Start(t, apiserver.Options{})
	cs := s.Client
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	clk := clocktesting.NewFakeClock(time.Now())
	f := informers.NewSharedInformerFactory(cs, 0)
	g, err := podgc.New(podgc.Options{Client: cs, Pods: f.Core().V1().Pods(), Nodes: f.Core().V1().Nodes(), Clock: clk, TerminatedPodThreshold: 2})
	require.NoError(t, err)
	f.Start(ctx.Done())

	_, err = cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "alive"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	mk := func(name, node string, phase corev1.PodPhase) {
		p, err := cs.CoreV1().Pods("default").Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "c", Image: "x"}}}}, metav1.CreateOptions{})
		require.NoError(t, err)
		if phase != "" {
			p.Status.Phase = phase
			_, err = cs.CoreV1().Pods("default").UpdateStatus(ctx, p, metav1.UpdateOptions{})
			require.NoError(t, err)
		}
	}
	mk("on-alive", "alive", corev1.PodRunning)
	mk("on-gone", "gone", corev1.PodRunning)
	for i := range 4 {
		mk(fmt.Sprintf("done-%d", i), "alive", corev1.PodSucceeded)
		clk.Step(time.Second) // distinct creation order is by the server's clock; names keep it readable
	}
	controllertest.Eventually(t, 10*time.Second, "cached", func() (bool, error) {
		ps, err := f.Core().V1().Pods().Lister().List(labels.Everything())
		ns, _ := f.Core().V1().Nodes().Lister().List(labels.Everything())
		succeeded := 0
		for _, p := range ps {
			if p.Status.Phase == corev1.PodSucceeded {
				succeeded++
			}
		}
		// The cache must have the final phases too, not only the pods.
		return len(ps) == 6 && succeeded == 4 && len(ns) == 1 && g.HasSynced(), err
	})
	exists := func(name string) bool {
		_, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return false
		}
		require.NoError(t, err)
		return true
	}
	require.NoError(t, g.Collect(ctx))
	require.True(t, exists("on-gone"), "quarantine: the node may just be slow to appear")
	terminated := 0
	for i := range 4 {
		if exists(fmt.Sprintf("done-%d", i)) {
			terminated++
		}
	}
	require.Equal(t, 2, terminated, "terminated pods over the threshold of 2 are deleted")

	clk.Step(podgc.DefaultQuarantine)
	require.NoError(t, g.Collect(ctx))
	require.False(t, exists("on-gone"), "node gone past quarantine")
	require.True(t, exists("on-alive"))
}
