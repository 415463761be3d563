package validation

import (
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gantryhq/gantry/apiserver/defaults"
)

// want is one expected error: its type and field path.
type want struct {
	typ   field.ErrorType
	field string
}

func required(f string) want     { return want{field.ErrorTypeRequired, f} }
func invalid(f string) want      { return want{field.ErrorTypeInvalid, f} }
func notSupported(f string) want { return want{field.ErrorTypeNotSupported, f} }
func duplicate(f string) want    { return want{field.ErrorTypeDuplicate, f} }
func forbidden(f string) want    { return want{field.ErrorTypeForbidden, f} }
func tooLong(f string) want      { return want{field.ErrorTypeTooLong, f} }
func notFound(f string) want     { return want{field.ErrorTypeNotFound, f} }
func tooMany(f string) want      { return want{field.ErrorTypeTooMany, f} }

func (w want) String() string { return string(w.typ) + " " + w.field }

// checkErrs fails the test unless got holds exactly the wanted errors (in
// any order).
func checkErrs(t *testing.T, got field.ErrorList, wanted ...want) {
	t.Helper()
	var g, w []string
	for _, e := range got {
		g = append(g, want{e.Type, e.Field}.String())
	}
	for _, e := range wanted {
		w = append(w, e.String())
	}
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("errors:\n got: %s\nwant: %s\nfull: %v", strings.Join(g, "; "), strings.Join(w, "; "), got)
	}
}

// withDefaults applies the API defaults to obj and returns it.
func withDefaults[T runtime.Object](obj T) T {
	defaults.Apply(obj)
	return obj
}

func meta(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", ResourceVersion: "1"}
}

func ptr[T any](v T) *T { return &v }

func podSpec() corev1.PodSpec {
	return corev1.PodSpec{
		Containers: []corev1.Container{{
			Name:  "web",
			Image: "nginx:1.27",
			Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 80}},
			Env:   []corev1.EnvVar{{Name: "MODE", Value: "prod"}},
			Resources: corev1.ResourceRequirements{
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")},
			},
			VolumeMounts:   []corev1.VolumeMount{{Name: "data", MountPath: "/data"}},
			LivenessProbe:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstrName("http")}}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstrNum(80)}}},
		}},
		InitContainers: []corev1.Container{{Name: "init", Image: "busybox", Command: []string{"true"}}},
		Volumes:        []corev1.Volume{{Name: "data"}},
		Tolerations:    []corev1.Toleration{{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: ptr[int64](300)}},
		NodeSelector:   map[string]string{"kubernetes.io/os": "linux"},
	}
}

func validPod() *corev1.Pod {
	return withDefaults(&corev1.Pod{ObjectMeta: meta("web-1"), Spec: podSpec()})
}

func validTemplate(labels map[string]string) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: podSpec()}
}

var appLabels = map[string]string{"app": "web"}

func validDeployment() *appsv1.Deployment {
	return withDefaults(&appsv1.Deployment{ObjectMeta: meta("web"), Spec: appsv1.DeploymentSpec{
		Selector: &metav1.LabelSelector{MatchLabels: appLabels},
		Template: validTemplate(appLabels),
	}})
}

func validReplicaSet() *appsv1.ReplicaSet {
	return withDefaults(&appsv1.ReplicaSet{ObjectMeta: meta("web-abc"), Spec: appsv1.ReplicaSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: appLabels},
		Template: validTemplate(appLabels),
	}})
}

func validDaemonSet() *appsv1.DaemonSet {
	return withDefaults(&appsv1.DaemonSet{ObjectMeta: meta("agent"), Spec: appsv1.DaemonSetSpec{
		Selector: &metav1.LabelSelector{MatchLabels: appLabels},
		Template: validTemplate(appLabels),
	}})
}

func validStatefulSet() *appsv1.StatefulSet {
	return withDefaults(&appsv1.StatefulSet{ObjectMeta: meta("db"), Spec: appsv1.StatefulSetSpec{
		ServiceName: "db",
		Selector:    &metav1.LabelSelector{MatchLabels: appLabels},
		Template:    validTemplate(appLabels),
		VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{
			ObjectMeta: metav1.ObjectMeta{Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}},
	}})
}

func validRC() *corev1.ReplicationController {
	t := validTemplate(appLabels)
	return withDefaults(&corev1.ReplicationController{ObjectMeta: meta("web"), Spec: corev1.ReplicationControllerSpec{Template: &t}})
}

func validJob() *batchv1.Job {
	t := validTemplate(map[string]string{"job": "pi"})
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	j := withDefaults(&batchv1.Job{ObjectMeta: meta("pi"), Spec: batchv1.JobSpec{Template: t}})
	j.UID = "3f1c"
	defaults.JobSelector(j)
	return j
}

func validCronJob() *batchv1.CronJob {
	t := validTemplate(map[string]string{"job": "report"})
	t.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	return withDefaults(&batchv1.CronJob{ObjectMeta: meta("report"), Spec: batchv1.CronJobSpec{
		Schedule:    "*/5 * * * *",
		JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: t}},
	}})
}

func validService() *corev1.Service {
	return withDefaults(&corev1.Service{ObjectMeta: meta("web"), Spec: corev1.ServiceSpec{
		Selector:  appLabels,
		ClusterIP: "10.96.0.10",
		Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstrName("http")},
			{Name: "https", Port: 443},
		},
	}})
}

func validNode() *corev1.Node {
	return withDefaults(&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", ResourceVersion: "1"},
		Spec: corev1.NodeSpec{
			PodCIDRs: []string{"10.244.1.0/24"},
			Taints:   []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}},
		},
		Status: corev1.NodeStatus{
			Capacity:  corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4"), corev1.ResourcePods: resource.MustParse("110")},
			Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}},
		},
	})
}

func validEndpoints() *corev1.Endpoints {
	return withDefaults(&corev1.Endpoints{ObjectMeta: meta("web"), Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "10.244.1.5", NodeName: ptr("node-1")}},
		Ports:     []corev1.EndpointPort{{Name: "http", Port: 8080}, {Name: "https", Port: 8443}},
	}}})
}

func validSlice() *discoveryv1.EndpointSlice {
	return withDefaults(&discoveryv1.EndpointSlice{
		ObjectMeta:  meta("web-abcde"),
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.5"}, NodeName: ptr("node-1")}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr[int32](8080)}},
	})
}

func validLease() *coordinationv1.Lease {
	return withDefaults(&coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease", ResourceVersion: "1"},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr("node-1"), LeaseDurationSeconds: ptr[int32](40)},
	})
}

func intstrName(s string) intstr.IntOrString { return intstr.FromString(s) }
func intstrNum(n int32) intstr.IntOrString   { return intstr.FromInt32(n) }

// runtimeObject is runtime.Object, named for the generic test helpers.
type runtimeObject = runtime.Object
