package nodeagent_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/runtime/fake"
)

// TestNodeEvents: the agent records the kubelet's events on its Node, so
// kubectl describe node shows them: Starting when it starts, the pressure
// conditions when first posted, NodeNotReady and NodeReady when Ready
// changes.
func TestNodeEvents(t *testing.T) {
	n := startFakeNode(t, fake.Options{}, nil)
	// events lists "type reason message" of the Node's events, each as
	// often as it happened, found as kubectl describe node finds them.
	events := func() []string {
		l, err := n.admin.CoreV1().Events("").List(n.ctx, metav1.ListOptions{
			FieldSelector: "involvedObject.kind=Node,involvedObject.namespace=,involvedObject.name=n1,involvedObject.uid=n1",
		})
		require.NoError(t, err)
		var out []string
		for _, e := range l.Items {
			require.Equal(t, metav1.NamespaceDefault, e.Namespace)
			require.Equal(t, "kubelet", e.Source.Component)
			require.Equal(t, "n1", e.Source.Host)
			for range max(e.Count, 1) {
				out = append(out, e.Type+" "+e.Reason+" "+e.Message)
			}
		}
		return out
	}
	count := func(ev string) int {
		c := 0
		for _, e := range events() {
			if e == ev {
				c++
			}
		}
		return c
	}
	startup := []string{
		"Normal Starting Starting kubelet.",
		"Normal NodeHasSufficientMemory Node n1 status is now: NodeHasSufficientMemory",
		"Normal NodeHasNoDiskPressure Node n1 status is now: NodeHasNoDiskPressure",
		"Normal NodeHasSufficientPID Node n1 status is now: NodeHasSufficientPID",
	}
	n.eventually("startup events", func() bool {
		got := events()
		for _, w := range startup {
			if !slices.Contains(got, w) {
				return false
			}
		}
		return true
	})
	const notReady, ready = "Normal NodeNotReady Node n1 status is now: NodeNotReady", "Normal NodeReady Node n1 status is now: NodeReady"
	require.Zero(t, count(ready), "the first Ready is no news")

	n.rt.SetHealth(errors.New("test: runtime down"))
	n.eventually("NodeNotReady", func() bool { return count(notReady) == 1 })
	n.rt.SetHealth(nil)
	n.eventually("NodeReady", func() bool { return count(ready) == 1 })
	for _, w := range startup {
		require.Equal(t, 1, count(w), "%s once: later statuses change nothing", w)
	}
	require.Equal(t, 1, count(notReady))
}
