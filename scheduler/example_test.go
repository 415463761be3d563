package scheduler_test

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/scheduler"
	"github.com/gantryhq/gantry/scheduler/plugins"
)

// Schedule pods in process with the default plugins and a fake binder.
func ExampleNew() {
	s, err := scheduler.New(scheduler.Options{
		Registry: plugins.NewRegistry(),
		Profiles: []scheduler.Profile{plugins.DefaultProfile(scheduler.DefaultSchedulerName)},
		Binder: scheduler.BinderFunc(func(_ context.Context, p *corev1.Pod, node string) error {
			fmt.Println(p.Name, "->", node)
			return nil
		}),
		Parallelism: 1,
	})
	if err != nil {
		panic(err)
	}
	s.Cache.AddNode(benchNode(0))
	s.Queue.Add(benchPod("web", 0))
	for s.ScheduleOne(context.Background()) {
	}
	// Output: web-0 -> node-0
}

// Swap in a research algorithm with one line.
func ExampleProfileFromAlgorithm() {
	first := scheduler.AlgorithmFunc(func(_ context.Context, _ *corev1.Pod, nodes []*scheduler.NodeInfo) (string, *scheduler.Status) {
		return nodes[0].Name(), nil
	})
	s, err := scheduler.New(scheduler.Options{
		Profiles: []scheduler.Profile{scheduler.ProfileFromAlgorithm("first-node", first)},
		Binder: scheduler.BinderFunc(func(_ context.Context, p *corev1.Pod, node string) error {
			fmt.Println(p.Name, "->", node)
			return nil
		}),
	})
	if err != nil {
		panic(err)
	}
	s.Cache.AddNode(benchNode(0))
	s.Cache.AddNode(benchNode(1))
	p := benchPod("job", 0)
	p.Spec.SchedulerName = "first-node"
	s.Queue.Add(p)
	s.ScheduleOne(context.Background())
	// Output: job-0 -> node-0
}

// A FitError prints as Kubernetes' FailedScheduling message.
func ExampleFitError() {
	fe := &scheduler.FitError{NumAllNodes: 3, NodeToStatus: map[string]*scheduler.Status{
		"a": scheduler.NewStatus(scheduler.Unschedulable, "Insufficient cpu"),
		"b": scheduler.NewStatus(scheduler.Unschedulable, "Insufficient cpu"),
		"c": scheduler.NewStatus(scheduler.UnschedulableAndUnresolvable, "node(s) had untolerated taint {node-role: master}"),
	}}
	fmt.Println(fe)
	// Output: 0/3 nodes are available: 1 node(s) had untolerated taint {node-role: master}, 2 Insufficient cpu.
}

// A pod rejected by a cordoned node waits for an event that may help it:
// a heartbeat is none, an uncordon moves it back at once.
func ExampleQueue_OnEvent() {
	s, err := scheduler.New(scheduler.Options{
		Registry: plugins.NewRegistry(),
		Profiles: []scheduler.Profile{plugins.DefaultProfile(scheduler.DefaultSchedulerName)},
		Binder: scheduler.BinderFunc(func(_ context.Context, p *corev1.Pod, node string) error {
			fmt.Println(p.Name, "->", node)
			return nil
		}),
		Parallelism: 1,
	})
	if err != nil {
		panic(err)
	}
	cordoned := benchNode(0)
	cordoned.Spec.Unschedulable = true
	s.Cache.AddNode(cordoned)
	s.Queue.Add(benchPod("web", 0))
	s.ScheduleOne(context.Background())
	_, _, unschedulable := s.Queue.Len()
	fmt.Println("unschedulable:", unschedulable)

	heartbeat := cordoned.DeepCopy()
	heartbeat.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
	fmt.Println("heartbeat:", scheduler.NodeUpdateEvent(cordoned, heartbeat))
	s.Queue.OnEvent(scheduler.NodeUpdateEvent(cordoned, heartbeat), cordoned, heartbeat)
	fmt.Println("retried:", s.ScheduleOne(context.Background()))

	uncordoned := benchNode(0)
	s.Cache.AddNode(uncordoned)
	fmt.Println("uncordon:", scheduler.NodeUpdateEvent(heartbeat, uncordoned))
	s.Queue.OnEvent(scheduler.NodeUpdateEvent(heartbeat, uncordoned), heartbeat, uncordoned)
	s.ScheduleOne(context.Background())
	// Output:
	// unschedulable: 1
	// heartbeat: Node/None
	// retried: false
	// uncordon: Node/UpdateNodeUnschedulable
	// web-0 -> node-0
}
