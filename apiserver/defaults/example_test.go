package defaults_test

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantryhq/gantry/apiserver/defaults"
)

// The API server applies the defaults to every object it decodes from a
// create or update request, before validation.
func ExampleApply() {
	d := &appsv1.Deployment{}
	defaults.Apply(d)
	fmt.Println(*d.Spec.Replicas, d.Spec.Strategy.Type,
		d.Spec.Strategy.RollingUpdate.MaxSurge, d.Spec.Strategy.RollingUpdate.MaxUnavailable,
		*d.Spec.RevisionHistoryLimit, *d.Spec.ProgressDeadlineSeconds)
	// Output: 1 RollingUpdate 25% 25% 10 600
}

func ExamplePod() {
	p := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{
		{Name: "web", Image: "nginx"},
		{Name: "log", Image: "fluent-bit:3.1"},
	}}}
	defaults.Pod(p)
	fmt.Println(p.Spec.RestartPolicy, p.Spec.DNSPolicy, *p.Spec.TerminationGracePeriodSeconds, p.Spec.SchedulerName)
	fmt.Println(p.Spec.Containers[0].ImagePullPolicy, p.Spec.Containers[1].ImagePullPolicy)
	// Output:
	// Always ClusterFirst 30 default-scheduler
	// Always IfNotPresent
}

func ExampleService() {
	s := &corev1.Service{Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	defaults.Service(s)
	fmt.Println(s.Spec.Type, s.Spec.SessionAffinity, s.Spec.Ports[0].Protocol, s.Spec.Ports[0].TargetPort.String())
	// Output: ClusterIP None TCP 80
}

func ExamplePullPolicyForImage() {
	fmt.Println(defaults.PullPolicyForImage("busybox"), defaults.PullPolicyForImage("busybox:1.36"))
	// Output: Always IfNotPresent
}

// On create, after assigning the UID and before validation, the API server
// gives a Job without a manual selector its generated selector.
func ExampleJobSelector() {
	j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "0c1e"}}
	defaults.Apply(j)
	defaults.JobSelector(j)
	fmt.Println(j.Spec.Selector.MatchLabels, j.Spec.Template.Labels["batch.kubernetes.io/job-name"])
	// Output: map[batch.kubernetes.io/controller-uid:0c1e] pi
}
