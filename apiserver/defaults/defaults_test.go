package defaults

import (
	"encoding/json"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func eq[T comparable](t *testing.T, what string, got, want T) {
	t.Helper()
	if got != want {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func deref[T any](t *testing.T, what string, p *T) T {
	t.Helper()
	if p == nil {
		t.Fatalf("%s is nil", what)
	}
	return *p
}

func template() corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: "nginx",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}},
		}}},
	}
}

// checkPodSpec checks the defaults every pod spec gets.
func checkPodSpec(t *testing.T, spec *corev1.PodSpec) {
	t.Helper()
	eq(t, "restartPolicy", spec.RestartPolicy, corev1.RestartPolicyAlways)
	eq(t, "dnsPolicy", spec.DNSPolicy, corev1.DNSClusterFirst)
	eq(t, "schedulerName", spec.SchedulerName, "default-scheduler")
	eq(t, "terminationGracePeriodSeconds", deref(t, "terminationGracePeriodSeconds", spec.TerminationGracePeriodSeconds), 30)
	if spec.SecurityContext == nil {
		t.Error("securityContext is nil")
	}
	c := spec.Containers[0]
	eq(t, "terminationMessagePath", c.TerminationMessagePath, "/dev/termination-log")
	eq(t, "terminationMessagePolicy", c.TerminationMessagePolicy, corev1.TerminationMessageReadFile)
	eq(t, "imagePullPolicy", c.ImagePullPolicy, corev1.PullAlways)
}

// TestApply defaults one object of every type, checks the fields
// Kubernetes defaults, and checks that a second Apply changes nothing.
func TestApply(t *testing.T) {
	tests := []struct {
		name  string
		obj   runtime.Object
		check func(t *testing.T, obj runtime.Object)
	}{
		{"Pod", &corev1.Pod{Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name: "web", Image: "nginx",
				Ports: []corev1.ContainerPort{{ContainerPort: 80}},
				Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1.0001"),
				}},
				LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: intstr.FromInt32(80)}}},
				Env:           []corev1.EnvVar{{Name: "POD", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}}},
			}},
			InitContainers:           []corev1.Container{{Name: "init", Image: "busybox:1.36"}},
			Volumes:                  []corev1.Volume{{Name: "scratch"}, {Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{}}}},
			DeprecatedServiceAccount: "builder",
		}, Status: corev1.PodStatus{PodIP: "10.244.1.5"}}, func(t *testing.T, obj runtime.Object) {
			p := obj.(*corev1.Pod)
			checkPodSpec(t, &p.Spec)
			eq(t, "enableServiceLinks", deref(t, "enableServiceLinks", p.Spec.EnableServiceLinks), true)
			c := p.Spec.Containers[0]
			eq(t, "ports[0].protocol", c.Ports[0].Protocol, corev1.ProtocolTCP)
			eq(t, "ports[0].hostPort", c.Ports[0].HostPort, 0)
			eq(t, "requests[cpu]", c.Resources.Requests.Cpu().String(), "500m")
			eq(t, "limits[memory] rounded up", c.Resources.Limits.Memory().MilliValue(), 1001)
			pr := c.LivenessProbe
			eq(t, "timeoutSeconds", pr.TimeoutSeconds, 1)
			eq(t, "periodSeconds", pr.PeriodSeconds, 10)
			eq(t, "successThreshold", pr.SuccessThreshold, 1)
			eq(t, "failureThreshold", pr.FailureThreshold, 3)
			eq(t, "httpGet.scheme", pr.HTTPGet.Scheme, corev1.URISchemeHTTP)
			eq(t, "httpGet.path", pr.HTTPGet.Path, "/")
			eq(t, "env fieldRef apiVersion", c.Env[0].ValueFrom.FieldRef.APIVersion, "v1")
			eq(t, "init imagePullPolicy", p.Spec.InitContainers[0].ImagePullPolicy, corev1.PullIfNotPresent)
			if p.Spec.Volumes[0].EmptyDir == nil {
				t.Error("volume without source is not an emptyDir")
			}
			eq(t, "configMap defaultMode", deref(t, "defaultMode", p.Spec.Volumes[1].ConfigMap.DefaultMode), 0o644)
			eq(t, "serviceAccountName", p.Spec.ServiceAccountName, "builder")
			eq(t, "podIPs[0]", p.Status.PodIPs[0].IP, "10.244.1.5")
		}},
		{"Pod on the host network", &corev1.Pod{Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{
			Name: "web", Image: "nginx", Ports: []corev1.ContainerPort{{ContainerPort: 80}},
		}}}}, func(t *testing.T, obj runtime.Object) {
			eq(t, "hostPort", obj.(*corev1.Pod).Spec.Containers[0].Ports[0].HostPort, 80)
		}},
		{"PodTemplate", &corev1.PodTemplate{Template: template()}, func(t *testing.T, obj runtime.Object) {
			tmpl := obj.(*corev1.PodTemplate).Template
			checkPodSpec(t, &tmpl.Spec)
			if tmpl.Spec.EnableServiceLinks != nil || tmpl.Spec.Containers[0].Resources.Requests != nil {
				t.Error("pod-only defaults applied to a template")
			}
		}},
		{"Namespace", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team-a"}}, func(t *testing.T, obj runtime.Object) {
			ns := obj.(*corev1.Namespace)
			eq(t, "phase", ns.Status.Phase, corev1.NamespaceActive)
			eq(t, "name label", ns.Labels[corev1.LabelMetadataName], "team-a")
			if len(ns.Spec.Finalizers) != 0 {
				t.Error("finalizers are the server's, not a default")
			}
		}},
		{"Node", &corev1.Node{Spec: corev1.NodeSpec{PodCIDR: "10.244.1.0/24"}, Status: corev1.NodeStatus{
			Capacity: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("4")},
		}}, func(t *testing.T, obj runtime.Object) {
			n := obj.(*corev1.Node)
			eq(t, "allocatable cpu", n.Status.Allocatable.Cpu().String(), "4")
			eq(t, "podCIDRs", len(n.Spec.PodCIDRs), 1)
		}},
		{"Service", &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10", Ports: []corev1.ServicePort{
			{Port: 80}, {Port: 443, TargetPort: intstr.FromString("https")},
		}}}, func(t *testing.T, obj runtime.Object) {
			s := obj.(*corev1.Service)
			eq(t, "type", s.Spec.Type, corev1.ServiceTypeClusterIP)
			eq(t, "sessionAffinity", s.Spec.SessionAffinity, corev1.ServiceAffinityNone)
			eq(t, "ports[0].protocol", s.Spec.Ports[0].Protocol, corev1.ProtocolTCP)
			eq(t, "ports[0].targetPort", s.Spec.Ports[0].TargetPort, intstr.FromInt32(80))
			eq(t, "ports[1].targetPort", s.Spec.Ports[1].TargetPort, intstr.FromString("https"))
			eq(t, "internalTrafficPolicy", deref(t, "internalTrafficPolicy", s.Spec.InternalTrafficPolicy), corev1.ServiceInternalTrafficPolicyCluster)
			eq(t, "externalTrafficPolicy", s.Spec.ExternalTrafficPolicy, "")
			eq(t, "clusterIPs[0]", s.Spec.ClusterIPs[0], "10.96.0.10")
		}},
		{"LoadBalancer Service", &corev1.Service{Spec: corev1.ServiceSpec{
			Type: corev1.ServiceTypeLoadBalancer, SessionAffinity: corev1.ServiceAffinityClientIP, Ports: []corev1.ServicePort{{Port: 80}},
		}}, func(t *testing.T, obj runtime.Object) {
			s := obj.(*corev1.Service)
			eq(t, "externalTrafficPolicy", s.Spec.ExternalTrafficPolicy, corev1.ServiceExternalTrafficPolicyCluster)
			eq(t, "allocateLoadBalancerNodePorts", deref(t, "allocateLoadBalancerNodePorts", s.Spec.AllocateLoadBalancerNodePorts), true)
			eq(t, "clientIP timeout", *s.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds, 10800)
		}},
		{"ExternalName Service", &corev1.Service{Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com"}},
			func(t *testing.T, obj runtime.Object) {
				if obj.(*corev1.Service).Spec.InternalTrafficPolicy != nil {
					t.Error("internalTrafficPolicy set on an ExternalName service")
				}
			}},
		{"Endpoints", &corev1.Endpoints{Subsets: []corev1.EndpointSubset{{Ports: []corev1.EndpointPort{{Port: 80}}}}}, func(t *testing.T, obj runtime.Object) {
			eq(t, "protocol", obj.(*corev1.Endpoints).Subsets[0].Ports[0].Protocol, corev1.ProtocolTCP)
		}},
		{"EndpointSlice", &discoveryv1.EndpointSlice{Ports: []discoveryv1.EndpointPort{{}}}, func(t *testing.T, obj runtime.Object) {
			p := obj.(*discoveryv1.EndpointSlice).Ports[0]
			eq(t, "name", deref(t, "name", p.Name), "")
			eq(t, "protocol", deref(t, "protocol", p.Protocol), corev1.ProtocolTCP)
		}},
		{"ConfigMap", &corev1.ConfigMap{Data: map[string]string{"a": "b"}}, nil},
		{"Secret", &corev1.Secret{}, func(t *testing.T, obj runtime.Object) {
			eq(t, "type", obj.(*corev1.Secret).Type, corev1.SecretTypeOpaque)
		}},
		{"ServiceAccount", &corev1.ServiceAccount{}, nil},
		{"Event", &corev1.Event{Reason: "Started"}, nil},
		{"Lease", &coordinationv1.Lease{Spec: coordinationv1.LeaseSpec{HolderIdentity: ptrTo("node-1")}}, nil},
		{"PersistentVolumeClaim", &corev1.PersistentVolumeClaim{}, func(t *testing.T, obj runtime.Object) {
			pvc := obj.(*corev1.PersistentVolumeClaim)
			eq(t, "volumeMode", deref(t, "volumeMode", pvc.Spec.VolumeMode), corev1.PersistentVolumeFilesystem)
			eq(t, "phase", pvc.Status.Phase, corev1.ClaimPending)
		}},
		{"ReplicationController", func() runtime.Object {
			t := template()
			return &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: &t}}
		}(), func(t *testing.T, obj runtime.Object) {
			rc := obj.(*corev1.ReplicationController)
			eq(t, "replicas", deref(t, "replicas", rc.Spec.Replicas), 1)
			eq(t, "selector", rc.Spec.Selector["app"], "web")
			eq(t, "labels", rc.Labels["app"], "web")
			rc.Spec.Selector["app"] = "changed"
			eq(t, "template labels (not aliased)", rc.Spec.Template.Labels["app"], "web")
			rc.Spec.Selector["app"] = "web"
			checkPodSpec(t, &rc.Spec.Template.Spec)
		}},
		{"Deployment", &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: template()}}, func(t *testing.T, obj runtime.Object) {
			d := obj.(*appsv1.Deployment)
			eq(t, "replicas", deref(t, "replicas", d.Spec.Replicas), 1)
			eq(t, "strategy", d.Spec.Strategy.Type, appsv1.RollingUpdateDeploymentStrategyType)
			eq(t, "maxUnavailable", *d.Spec.Strategy.RollingUpdate.MaxUnavailable, intstr.FromString("25%"))
			eq(t, "maxSurge", *d.Spec.Strategy.RollingUpdate.MaxSurge, intstr.FromString("25%"))
			eq(t, "revisionHistoryLimit", deref(t, "revisionHistoryLimit", d.Spec.RevisionHistoryLimit), 10)
			eq(t, "progressDeadlineSeconds", deref(t, "progressDeadlineSeconds", d.Spec.ProgressDeadlineSeconds), 600)
			checkPodSpec(t, &d.Spec.Template.Spec)
			if d.Spec.Selector != nil {
				t.Error("apps/v1 does not default the selector")
			}
		}},
		{"Recreate Deployment", &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}}},
			func(t *testing.T, obj runtime.Object) {
				if obj.(*appsv1.Deployment).Spec.Strategy.RollingUpdate != nil {
					t.Error("rollingUpdate set for Recreate")
				}
			}},
		{"ReplicaSet", &appsv1.ReplicaSet{Spec: appsv1.ReplicaSetSpec{Template: template()}}, func(t *testing.T, obj runtime.Object) {
			rs := obj.(*appsv1.ReplicaSet)
			eq(t, "replicas", deref(t, "replicas", rs.Spec.Replicas), 1)
			checkPodSpec(t, &rs.Spec.Template.Spec)
		}},
		{"DaemonSet", &appsv1.DaemonSet{Spec: appsv1.DaemonSetSpec{Template: template()}}, func(t *testing.T, obj runtime.Object) {
			ds := obj.(*appsv1.DaemonSet)
			eq(t, "updateStrategy", ds.Spec.UpdateStrategy.Type, appsv1.RollingUpdateDaemonSetStrategyType)
			eq(t, "maxUnavailable", *ds.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable, intstr.FromInt32(1))
			eq(t, "maxSurge", *ds.Spec.UpdateStrategy.RollingUpdate.MaxSurge, intstr.FromInt32(0))
			eq(t, "revisionHistoryLimit", deref(t, "revisionHistoryLimit", ds.Spec.RevisionHistoryLimit), 10)
			checkPodSpec(t, &ds.Spec.Template.Spec)
		}},
		{"StatefulSet", &appsv1.StatefulSet{Spec: appsv1.StatefulSetSpec{Template: template(),
			VolumeClaimTemplates: []corev1.PersistentVolumeClaim{{}}}}, func(t *testing.T, obj runtime.Object) {
			ss := obj.(*appsv1.StatefulSet)
			eq(t, "replicas", deref(t, "replicas", ss.Spec.Replicas), 1)
			eq(t, "podManagementPolicy", ss.Spec.PodManagementPolicy, appsv1.OrderedReadyPodManagement)
			eq(t, "updateStrategy", ss.Spec.UpdateStrategy.Type, appsv1.RollingUpdateStatefulSetStrategyType)
			eq(t, "partition", deref(t, "partition", ss.Spec.UpdateStrategy.RollingUpdate.Partition), 0)
			eq(t, "revisionHistoryLimit", deref(t, "revisionHistoryLimit", ss.Spec.RevisionHistoryLimit), 10)
			eq(t, "whenDeleted", ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenDeleted, appsv1.RetainPersistentVolumeClaimRetentionPolicyType)
			eq(t, "whenScaled", ss.Spec.PersistentVolumeClaimRetentionPolicy.WhenScaled, appsv1.RetainPersistentVolumeClaimRetentionPolicyType)
			eq(t, "claim volumeMode", deref(t, "volumeMode", ss.Spec.VolumeClaimTemplates[0].Spec.VolumeMode), corev1.PersistentVolumeFilesystem)
			checkPodSpec(t, &ss.Spec.Template.Spec)
		}},
		{"Job", &batchv1.Job{Spec: batchv1.JobSpec{Template: func() corev1.PodTemplateSpec {
			t := template()
			t.Spec.RestartPolicy = corev1.RestartPolicyNever
			return t
		}()}}, func(t *testing.T, obj runtime.Object) {
			j := obj.(*batchv1.Job)
			eq(t, "parallelism", deref(t, "parallelism", j.Spec.Parallelism), 1)
			eq(t, "completions", deref(t, "completions", j.Spec.Completions), 1)
			eq(t, "backoffLimit", deref(t, "backoffLimit", j.Spec.BackoffLimit), 6)
			eq(t, "completionMode", deref(t, "completionMode", j.Spec.CompletionMode), batchv1.NonIndexedCompletion)
			eq(t, "suspend", deref(t, "suspend", j.Spec.Suspend), false)
			eq(t, "podReplacementPolicy", deref(t, "podReplacementPolicy", j.Spec.PodReplacementPolicy), batchv1.TerminatingOrFailed)
			eq(t, "restartPolicy", j.Spec.Template.Spec.RestartPolicy, corev1.RestartPolicyNever)
			eq(t, "labels", j.Labels["app"], "web")
		}},
		{"CronJob", &batchv1.CronJob{Spec: batchv1.CronJobSpec{Schedule: "@hourly", JobTemplate: batchv1.JobTemplateSpec{
			Spec: batchv1.JobSpec{Template: template()}}}}, func(t *testing.T, obj runtime.Object) {
			cj := obj.(*batchv1.CronJob)
			eq(t, "concurrencyPolicy", cj.Spec.ConcurrencyPolicy, batchv1.AllowConcurrent)
			eq(t, "suspend", deref(t, "suspend", cj.Spec.Suspend), false)
			eq(t, "successfulJobsHistoryLimit", deref(t, "successfulJobsHistoryLimit", cj.Spec.SuccessfulJobsHistoryLimit), 3)
			eq(t, "failedJobsHistoryLimit", deref(t, "failedJobsHistoryLimit", cj.Spec.FailedJobsHistoryLimit), 1)
			checkPodSpec(t, &cj.Spec.JobTemplate.Spec.Template.Spec)
			if cj.Spec.JobTemplate.Spec.Parallelism != nil || cj.Spec.JobTemplate.Spec.BackoffLimit != nil {
				t.Error("the job template's own fields were defaulted; Kubernetes leaves them to the Jobs")
			}
		}},
		{"parallel Job", &batchv1.Job{Spec: batchv1.JobSpec{Parallelism: ptrTo[int32](5)}}, func(t *testing.T, obj runtime.Object) {
			j := obj.(*batchv1.Job)
			eq(t, "parallelism", *j.Spec.Parallelism, 5)
			if j.Spec.Completions != nil {
				t.Error("completions defaulted although parallelism was set")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if !Known(tt.obj) {
				t.Fatalf("Known(%T) = false", tt.obj)
			}
			Apply(tt.obj)
			if tt.check != nil {
				tt.check(t, tt.obj)
			}
			once, err := json.Marshal(tt.obj)
			if err != nil {
				t.Fatal(err)
			}
			twice := tt.obj.DeepCopyObject()
			Apply(twice)
			again, err := json.Marshal(twice)
			if err != nil {
				t.Fatal(err)
			}
			if string(once) != string(again) || !equality.Semantic.DeepEqual(tt.obj, twice) {
				t.Errorf("second Apply changed the object:\n once: %s\ntwice: %s", once, again)
			}
		})
	}
}

func TestApplyUnknown(t *testing.T) {
	for _, obj := range []runtime.Object{nil, &corev1.PersistentVolume{}, &corev1.PodList{}} {
		Apply(obj) // must not panic
		if Known(obj) {
			t.Errorf("Known(%T) = true", obj)
		}
	}
	Apply((*corev1.Pod)(nil)) // must not panic
	if !Known((*corev1.Pod)(nil)) {
		t.Error("Known((*Pod)(nil)) = false")
	}
}

func TestPullPolicyForImage(t *testing.T) {
	tests := []struct {
		image string
		want  corev1.PullPolicy
	}{
		{"nginx", corev1.PullAlways},
		{"nginx:latest", corev1.PullAlways},
		{"nginx:1.27", corev1.PullIfNotPresent},
		{"registry.local:5000/nginx", corev1.PullAlways},
		{"registry.local:5000/nginx:1.27", corev1.PullIfNotPresent},
		{"nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullIfNotPresent},
		{"nginx:latest@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", corev1.PullAlways},
		{"", corev1.PullIfNotPresent},
	}
	for _, tt := range tests {
		t.Run(tt.image, func(t *testing.T) {
			eq(t, "PullPolicyForImage("+tt.image+")", PullPolicyForImage(tt.image), tt.want)
		})
	}
}

func TestJobSelector(t *testing.T) {
	tests := []struct {
		name     string
		job      batchv1.Job
		wantSel  bool
		wantName string
	}{
		{"generated", batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "u1"}}, true, "pi"},
		{"no uid yet", batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi"}}, false, ""},
		{"manual selector", batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "pi", UID: "u1"}, Spec: batchv1.JobSpec{ManualSelector: ptrTo(true)}}, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := tt.job
			JobSelector(&j)
			if (j.Spec.Selector != nil) != tt.wantSel {
				t.Fatalf("selector = %v, want set: %v", j.Spec.Selector, tt.wantSel)
			}
			if tt.wantSel {
				eq(t, "selector uid", j.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel], "u1")
				eq(t, "template uid", j.Spec.Template.Labels[batchv1.ControllerUidLabel], "u1")
				eq(t, "template job-name", j.Spec.Template.Labels[batchv1.JobNameLabel], tt.wantName)
			}
		})
	}
}

func TestSecretStringData(t *testing.T) {
	s := &corev1.Secret{
		Data:       map[string][]byte{"keep": []byte("1"), "both": []byte("old")},
		StringData: map[string]string{"both": "new", "added": "2"},
	}
	Secret(s)
	if s.StringData != nil {
		t.Errorf("stringData kept: %v", s.StringData)
	}
	want := map[string]string{"keep": "1", "both": "new", "added": "2"}
	if len(s.Data) != len(want) {
		t.Fatalf("data = %v, want %v", s.Data, want)
	}
	for k, v := range want {
		eq(t, "data["+k+"]", string(s.Data[k]), v)
	}
	eq(t, "type", s.Type, corev1.SecretTypeOpaque)
}
