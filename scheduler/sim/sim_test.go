package sim_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/scheduler"
	"github.com/gantryhq/gantry/scheduler/plugins"
	"github.com/gantryhq/gantry/scheduler/sim"
)

func candidates() []sim.Candidate {
	most := plugins.DefaultPlugins()
	for i := range most {
		if most[i].Name == plugins.NodeResourcesFitName {
			most[i].Args = plugins.NodeResourcesFitArgs{Strategy: plugins.MostAllocated}
		}
	}
	first := scheduler.AlgorithmFunc(func(_ context.Context, p *corev1.Pod, nodes []*scheduler.NodeInfo) (string, *scheduler.Status) {
		req, _ := scheduler.PodRequests(p)
		for _, n := range nodes {
			if req.MilliCPU <= n.Allocatable.MilliCPU-n.Requested.MilliCPU && req.Memory <= n.Allocatable.Memory-n.Requested.Memory &&
				int64(len(n.Pods)) < n.Allocatable.AllowedPodNumber {
				return n.Name(), nil
			}
		}
		return "", scheduler.NewStatus(scheduler.Unschedulable, "full")
	})
	return []sim.Candidate{
		{Name: "default", Registry: plugins.NewRegistry(), Profile: plugins.DefaultProfile("")},
		{Name: "most-allocated", Registry: plugins.NewRegistry(), Profile: scheduler.Profile{Plugins: most}},
		{Name: "first-fit", Profile: scheduler.ProfileFromAlgorithm("first-fit", first)},
	}
}

func render(t *testing.T, seed uint64) []byte {
	t.Helper()
	tr := sim.Generate(seed, sim.GenerateOptions{Jobs: 300, MeanInterarrival: 50 * time.Millisecond, MeanDuration: 20 * time.Second, HighPriorityShare: 0.1})
	cfg := sim.Config{Cluster: sim.UniformCluster(8, 4000, 16384, 110), Trace: tr, Seed: seed, SampleEvery: time.Second}
	res, err := sim.Compare(context.Background(), cfg, candidates())
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, sim.WriteCSV(&b, res))
	require.NoError(t, sim.WriteSamplesCSV(&b, res))
	require.NoError(t, sim.WriteJSON(&b, res))
	require.NoError(t, sim.WriteSVG(&b, res))
	require.NoError(t, sim.WritePNG(&b, res))
	require.NoError(t, sim.WriteTable(&b, res, false))
	for _, r := range res {
		assert.Equal(t, r.Jobs, r.Scheduled+r.Unschedulable, "every job placed (preempted jobs are not retried) or left pending: %s", r.Name)
	}
	return b.Bytes()
}

func TestReproducible(t *testing.T) {
	a, b := render(t, 7), render(t, 7)
	assert.Equal(t, string(a), string(b))
	c := render(t, 8)
	assert.NotEqual(t, string(a), string(c))
}

// TestPackingBeatsSpreading runs a load the cluster holds with room to
// spare (about 60 jobs at a time): with a choice of nodes the strategies
// differ. (In a saturated cluster each pod takes whatever a completion
// freed, and retried at once, the strategy hardly matters.)
func TestPackingBeatsSpreading(t *testing.T) {
	tr := sim.Generate(3, sim.GenerateOptions{Jobs: 200, MeanInterarrival: 500 * time.Millisecond, MeanDuration: 30 * time.Second})
	cfg := sim.Config{Cluster: sim.UniformCluster(10, 4000, 16384, 110), Trace: tr, Seed: 3}
	res, err := sim.Compare(context.Background(), cfg, candidates()[:2])
	require.NoError(t, err)
	assert.Greater(t, res[1].MeanImbalance, res[0].MeanImbalance, "MostAllocated packs, so node utilisations differ more")
	assert.Equal(t, 200, res[0].Scheduled)
}

func TestTraceRoundTrip(t *testing.T) {
	tr := sim.Generate(1, sim.GenerateOptions{Jobs: 20})
	tr[0].Labels = map[string]string{"app": "web", "tier": "1"}
	tr[1].NodeSelector = map[string]string{"zone": "a"}
	tests := []struct {
		name  string
		write func(*bytes.Buffer) error
		read  func(*bytes.Buffer) (sim.Trace, error)
	}{
		{"csv", func(b *bytes.Buffer) error { return tr.WriteCSV(b) }, func(b *bytes.Buffer) (sim.Trace, error) { return sim.ReadCSV(b) }},
		{"jsonl", func(b *bytes.Buffer) error { return tr.WriteJSONL(b) }, func(b *bytes.Buffer) (sim.Trace, error) { return sim.ReadJSONL(b) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, tc.write(&b))
			got, err := tc.read(&b)
			require.NoError(t, err)
			assert.Equal(t, tr, got)
		})
	}
	_, err := sim.ReadCSV(bytes.NewBufferString("bad\n"))
	assert.Error(t, err)
}

// TestWritePNG: the chart decodes as an 800x400 PNG with each run's line
// colour in it.
func TestWritePNG(t *testing.T) {
	tr := sim.Generate(5, sim.GenerateOptions{Jobs: 100, MeanInterarrival: 100 * time.Millisecond, MeanDuration: 10 * time.Second})
	cfg := sim.Config{Cluster: sim.UniformCluster(4, 4000, 16384, 110), Trace: tr, Seed: 5, SampleEvery: time.Second}
	res, err := sim.Compare(context.Background(), cfg, candidates()[:2])
	require.NoError(t, err)
	var b bytes.Buffer
	require.NoError(t, sim.WritePNG(&b, res))
	img, err := png.Decode(&b)
	require.NoError(t, err)
	require.Equal(t, image.Rect(0, 0, 800, 400), img.Bounds())
	colours := map[color.NRGBA]int{}
	for y := 0; y < 400; y++ {
		for x := 0; x < 800; x++ {
			colours[color.NRGBAModel.Convert(img.At(x, y)).(color.NRGBA)]++
		}
	}
	assert.Greater(t, colours[color.NRGBA{0x1f, 0x77, 0xb4, 255}], 100, "first run's line")
	assert.Greater(t, colours[color.NRGBA{0xd6, 0x27, 0x28, 255}], 100, "second run's line")
	assert.Greater(t, colours[color.NRGBA{0, 0, 0, 255}], 1000, "axes and labels")
}
