package validation

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestPod(t *testing.T) {
	c0 := "spec.containers[0]"
	tests := []struct {
		name   string
		mutate func(*corev1.Pod)
		want   []want
	}{
		{"valid", func(*corev1.Pod) {}, nil},
		{"generateName instead of name", func(p *corev1.Pod) { p.Name, p.GenerateName = "", "web-" }, nil},

		// metadata
		{"no name", func(p *corev1.Pod) { p.Name = "" }, []want{required("metadata.name")}},
		{"bad name", func(p *corev1.Pod) { p.Name = "Web_1" }, []want{invalid("metadata.name")}},
		{"bad generateName", func(p *corev1.Pod) { p.Name, p.GenerateName = "", "Web_" }, []want{invalid("metadata.generateName")}},
		{"no namespace", func(p *corev1.Pod) { p.Namespace = "" }, []want{required("metadata.namespace")}},
		{"bad namespace", func(p *corev1.Pod) { p.Namespace = "a.b" }, []want{invalid("metadata.namespace")}},
		{"bad label key", func(p *corev1.Pod) { p.Labels = map[string]string{"-x": "y"} }, []want{invalid("metadata.labels")}},
		{"bad label value", func(p *corev1.Pod) { p.Labels = map[string]string{"x": "a b"} }, []want{invalid("metadata.labels")}},
		{"bad annotation key", func(p *corev1.Pod) { p.Annotations = map[string]string{"a b": ""} }, []want{invalid("metadata.annotations")}},
		{"annotations too large", func(p *corev1.Pod) {
			p.Annotations = map[string]string{"big": strings.Repeat("x", 256*1024)}
		}, []want{tooLong("metadata.annotations")}},
		{"unqualified finalizer", func(p *corev1.Pod) { p.Finalizers = []string{"mine"} }, []want{invalid("metadata.finalizers[0]")}},
		{"owner reference without uid", func(p *corev1.Pod) {
			p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web"}}
		}, []want{required("metadata.ownerReferences[0].uid")}},

		// containers
		{"no containers", func(p *corev1.Pod) { p.Spec.Containers = nil }, []want{required("spec.containers")}},
		{"container without name", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "" }, []want{required(c0 + ".name")}},
		{"container name not a label", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "Web" }, []want{invalid(c0 + ".name")}},
		{"container name duplicates init container", func(p *corev1.Pod) { p.Spec.Containers[0].Name = "init" }, []want{duplicate(c0 + ".name")}},
		{"duplicate container names", func(p *corev1.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, p.Spec.Containers[0])
			p.Spec.Containers[1].Ports = nil
		}, []want{duplicate("spec.containers[1].name")}},
		{"no image", func(p *corev1.Pod) { p.Spec.Containers[0].Image = "" }, []want{required(c0 + ".image")}},
		{"image with spaces", func(p *corev1.Pod) { p.Spec.Containers[0].Image = " nginx" }, []want{invalid(c0 + ".image")}},
		{"bad pull policy", func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "Sometimes" }, []want{notSupported(c0 + ".imagePullPolicy")}},
		{"no pull policy", func(p *corev1.Pod) { p.Spec.Containers[0].ImagePullPolicy = "" }, []want{required(c0 + ".imagePullPolicy")}},
		{"bad termination message policy", func(p *corev1.Pod) { p.Spec.Containers[0].TerminationMessagePolicy = "Stdout" }, []want{notSupported(c0 + ".terminationMessagePolicy")}},
		{"restartPolicy on a regular container", func(p *corev1.Pod) {
			p.Spec.Containers[0].RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
		}, []want{forbidden(c0 + ".restartPolicy")}},
		{"init container restartPolicy Never", func(p *corev1.Pod) {
			p.Spec.InitContainers[0].RestartPolicy = ptr(corev1.ContainerRestartPolicyNever)
		}, []want{notSupported("spec.initContainers[0].restartPolicy")}},
		{"probe on an init container", func(p *corev1.Pod) {
			p.Spec.InitContainers[0].ReadinessProbe = p.Spec.Containers[0].ReadinessProbe
		}, []want{forbidden("spec.initContainers[0].readinessProbe")}},
		{"probe on a sidecar", func(p *corev1.Pod) {
			p.Spec.InitContainers[0].RestartPolicy = ptr(corev1.ContainerRestartPolicyAlways)
			p.Spec.InitContainers[0].ReadinessProbe = p.Spec.Containers[0].ReadinessProbe
		}, nil},

		// ports
		{"port without number", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 0 }, []want{required(c0 + ".ports[0].containerPort")}},
		{"port out of range", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = 70000 }, []want{invalid(c0 + ".ports[0].containerPort")}},
		{"host port out of range", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].HostPort = -1 }, []want{invalid(c0 + ".ports[0].hostPort")}},
		{"bad port name", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Name = "http_port" }, []want{invalid(c0 + ".ports[0].name")}},
		{"duplicate port name", func(p *corev1.Pod) {
			p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, corev1.ContainerPort{Name: "http", ContainerPort: 81, Protocol: corev1.ProtocolTCP})
		}, []want{duplicate(c0 + ".ports[1].name")}},
		{"unsupported protocol", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "ICMP" }, []want{notSupported(c0 + ".ports[0].protocol")}},
		{"no protocol", func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].Protocol = "" }, []want{required(c0 + ".ports[0].protocol")}},
		{"host port conflict", func(p *corev1.Pod) {
			c := p.Spec.Containers[0]
			c.Name, c.VolumeMounts = "sidecar", nil
			p.Spec.Containers[0].Ports[0].HostPort = 8080
			c.Ports = []corev1.ContainerPort{{ContainerPort: 81, HostPort: 8080, Protocol: corev1.ProtocolTCP}}
			p.Spec.Containers = append(p.Spec.Containers, c)
		}, []want{duplicate("spec.containers[1].ports[0].hostPort")}},
		{"host network with a different host port", func(p *corev1.Pod) {
			p.Spec.HostNetwork = true
			p.Spec.Containers[0].Ports[0].HostPort = 8080
		}, []want{invalid(c0 + ".ports[0].hostPort")}},

		// env
		{"env without name", func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "" }, []want{required(c0 + ".env[0].name")}},
		{"env name with '='", func(p *corev1.Pod) { p.Spec.Containers[0].Env[0].Name = "A=B" }, []want{invalid(c0 + ".env[0].name")}},
		{"env value and valueFrom", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[0].ValueFrom = &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.name"}}
		}, []want{invalid(c0 + ".env[0].valueFrom")}},
		{"env fieldRef unsupported", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[0] = corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "spec.hostname"}}}
		}, []want{notSupported(c0 + ".env[0].valueFrom.fieldRef.fieldPath")}},
		{"env fieldRef label subscript", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[0] = corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.labels['app']"}}}
		}, nil},
		{"env secretKeyRef without key", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[0] = corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}}}}
		}, []want{required(c0 + ".env[0].valueFrom.secretKeyRef.key")}},
		{"env resourceFieldRef unsupported", func(p *corev1.Pod) {
			p.Spec.Containers[0].Env[0] = corev1.EnvVar{Name: "X", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.gpu"}}}
		}, []want{notSupported(c0 + ".env[0].valueFrom.resourceFieldRef.resource")}},
		{"envFrom without source", func(p *corev1.Pod) {
			p.Spec.Containers[0].EnvFrom = []corev1.EnvFromSource{{Prefix: "X_"}}
		}, []want{invalid(c0 + ".envFrom[0]")}},

		// resources
		{"negative limit", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits[corev1.ResourceMemory] = resource.MustParse("-1")
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceMemory] = resource.MustParse("-1")
		}, []want{invalid(c0 + ".resources.limits[memory]"), invalid(c0 + ".resources.requests[memory]")}},
		{"request above limit", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests[corev1.ResourceCPU] = resource.MustParse("1")
		}, []want{invalid(c0 + ".resources.requests[cpu]")}},
		{"unknown resource", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits["gpu"] = resource.MustParse("1")
			p.Spec.Containers[0].Resources.Requests["gpu"] = resource.MustParse("1")
		}, []want{invalid(c0 + ".resources.limits[gpu]"), invalid(c0 + ".resources.requests[gpu]")}},
		{"extended resource request without limit", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Requests["example.com/gpu"] = resource.MustParse("1")
		}, []want{required(c0 + ".resources.limits[example.com/gpu]")}},
		{"fractional extended resource", func(p *corev1.Pod) {
			p.Spec.Containers[0].Resources.Limits["example.com/gpu"] = resource.MustParse("500m")
		}, []want{invalid(c0 + ".resources.limits[example.com/gpu]")}},

		// volumes and mounts
		{"mount of a missing volume", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].Name = "cache" }, []want{notFound(c0 + ".volumeMounts[0].name")}},
		{"mount without path", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].MountPath = "" }, []want{required(c0 + ".volumeMounts[0].mountPath")}},
		{"mount path twice", func(p *corev1.Pod) {
			m := &p.Spec.Containers[0].VolumeMounts
			*m = append(*m, (*m)[0])
		}, []want{invalid(c0 + ".volumeMounts[1].mountPath")}},
		{"subPath escaping", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].SubPath = "../etc" }, []want{invalid(c0 + ".volumeMounts[0].subPath")}},
		{"absolute subPath", func(p *corev1.Pod) { p.Spec.Containers[0].VolumeMounts[0].SubPath = "/etc" }, []want{invalid(c0 + ".volumeMounts[0].subPath")}},
		{"bidirectional propagation unprivileged", func(p *corev1.Pod) {
			p.Spec.Containers[0].VolumeMounts[0].MountPropagation = ptr(corev1.MountPropagationBidirectional)
		}, []want{forbidden(c0 + ".volumeMounts[0].mountPropagation")}},
		{"duplicate volume names", func(p *corev1.Pod) { p.Spec.Volumes = append(p.Spec.Volumes, p.Spec.Volumes[0]) }, []want{duplicate("spec.volumes[1].name")}},
		{"volume without name", func(p *corev1.Pod) {
			p.Spec.Volumes = append(p.Spec.Volumes, corev1.Volume{VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}})
		}, []want{required("spec.volumes[1].name")}},
		{"volume name not a label", func(p *corev1.Pod) {
			p.Spec.Volumes[0].Name = "Data"
			p.Spec.Containers[0].VolumeMounts[0].Name = "Data"
		}, []want{invalid("spec.volumes[0].name")}},
		{"volume without source", func(p *corev1.Pod) { p.Spec.Volumes[0].EmptyDir = nil }, []want{required("spec.volumes[0]")}},
		{"volume with two sources", func(p *corev1.Pod) {
			p.Spec.Volumes[0].HostPath = &corev1.HostPathVolumeSource{Path: "/tmp"}
		}, []want{forbidden("spec.volumes[0].emptyDir")}},
		{"secret volume without name", func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{DefaultMode: ptr[int32](0o644)}}
		}, []want{required("spec.volumes[0].secret.secretName")}},
		{"secret volume bad mode", func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: ptr[int32](0o1777)}}
		}, []want{invalid("spec.volumes[0].secret.defaultMode")}},
		{"configMap item path escaping", func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
				LocalObjectReference: corev1.LocalObjectReference{Name: "cm"},
				Items:                []corev1.KeyToPath{{Key: "k", Path: "../k"}},
			}}
		}, []want{invalid("spec.volumes[0].configMap.items[0].path")}},
		{"hostPath without path", func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{}}
		}, []want{required("spec.volumes[0].hostPath.path")}},
		{"pvc without claim name", func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{}}
		}, []want{required("spec.volumes[0].persistentVolumeClaim.claimName")}},
		{"projected token too short", func(p *corev1.Pod) {
			p.Spec.Volumes[0].VolumeSource = corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{Sources: []corev1.VolumeProjection{
				{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{Path: "token", ExpirationSeconds: ptr[int64](60)}},
			}}}
		}, []want{invalid("spec.volumes[0].projected.sources[0].serviceAccountToken.expirationSeconds")}},

		// probes and lifecycle
		{"probe without handler", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe.HTTPGet = nil
		}, []want{required(c0 + ".livenessProbe")}},
		{"probe with two handlers", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe.Exec = &corev1.ExecAction{Command: []string{"true"}}
		}, []want{forbidden(c0 + ".livenessProbe.httpGet")}},
		{"exec probe without command", func(p *corev1.Pod) {
			p.Spec.Containers[0].LivenessProbe.ProbeHandler = corev1.ProbeHandler{Exec: &corev1.ExecAction{}}
		}, []want{required(c0 + ".livenessProbe.exec.command")}},
		{"liveness successThreshold 2", func(p *corev1.Pod) { p.Spec.Containers[0].LivenessProbe.SuccessThreshold = 2 }, []want{invalid(c0 + ".livenessProbe.successThreshold")}},
		{"negative probe period", func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe.PeriodSeconds = -1 }, []want{invalid(c0 + ".readinessProbe.periodSeconds")}},
		{"probe bad port", func(p *corev1.Pod) { p.Spec.Containers[0].ReadinessProbe.TCPSocket.Port = intstrNum(0) }, []want{invalid(c0 + ".readinessProbe.tcpSocket.port")}},
		{"probe bad scheme", func(p *corev1.Pod) { p.Spec.Containers[0].LivenessProbe.HTTPGet.Scheme = "FTP" }, []want{notSupported(c0 + ".livenessProbe.httpGet.scheme")}},
		{"readiness probe with grace period", func(p *corev1.Pod) {
			p.Spec.Containers[0].ReadinessProbe.TerminationGracePeriodSeconds = ptr[int64](5)
		}, []want{invalid(c0 + ".readinessProbe.terminationGracePeriodSeconds")}},
		{"preStop sleep beyond grace period", func(p *corev1.Pod) {
			p.Spec.Containers[0].Lifecycle = &corev1.Lifecycle{PreStop: &corev1.LifecycleHandler{Sleep: &corev1.SleepAction{Seconds: 31}}}
		}, []want{invalid(c0 + ".lifecycle.preStop.sleep.seconds")}},

		// pod-level fields
		{"bad restartPolicy", func(p *corev1.Pod) { p.Spec.RestartPolicy = "Sometimes" }, []want{notSupported("spec.restartPolicy")}},
		{"no restartPolicy", func(p *corev1.Pod) { p.Spec.RestartPolicy = "" }, []want{required("spec.restartPolicy")}},
		{"bad dnsPolicy", func(p *corev1.Pod) { p.Spec.DNSPolicy = "Google" }, []want{notSupported("spec.dnsPolicy")}},
		{"dnsPolicy None without config", func(p *corev1.Pod) { p.Spec.DNSPolicy = corev1.DNSNone }, []want{required("spec.dnsConfig")}},
		{"dnsPolicy None with config", func(p *corev1.Pod) {
			p.Spec.DNSPolicy = corev1.DNSNone
			p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"1.1.1.1"}, Searches: []string{"svc.cluster.local."}}
		}, nil},
		{"bad nameserver", func(p *corev1.Pod) { p.Spec.DNSConfig = &corev1.PodDNSConfig{Nameservers: []string{"dns"}} }, []want{invalid("spec.dnsConfig.nameservers[0]")}},
		{"bad nodeSelector", func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "s s d"} }, []want{invalid("spec.nodeSelector")}},
		{"bad nodeName", func(p *corev1.Pod) { p.Spec.NodeName = "Node_1" }, []want{invalid("spec.nodeName")}},
		{"bad serviceAccountName", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "A"; p.Spec.DeprecatedServiceAccount = "A" }, []want{invalid("spec.serviceAccountName")}},
		{"bad hostname", func(p *corev1.Pod) { p.Spec.Hostname = "a.b" }, []want{invalid("spec.hostname")}},
		{"activeDeadlineSeconds 0", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](0) }, []want{invalid("spec.activeDeadlineSeconds")}},
		{"activeDeadlineSeconds 60", func(p *corev1.Pod) { p.Spec.ActiveDeadlineSeconds = ptr[int64](60) }, nil},
		{"negative grace period", func(p *corev1.Pod) { p.Spec.TerminationGracePeriodSeconds = ptr[int64](-5) }, []want{invalid("spec.terminationGracePeriodSeconds")}},
		{"bad runAsUser", func(p *corev1.Pod) { p.Spec.SecurityContext.RunAsUser = ptr[int64](-1) }, []want{invalid("spec.securityContext.runAsUser")}},
		{"privileged without escalation", func(p *corev1.Pod) {
			p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr(true), AllowPrivilegeEscalation: ptr(false)}
		}, []want{invalid(c0 + ".securityContext")}},
		{"bad host alias", func(p *corev1.Pod) {
			p.Spec.HostAliases = []corev1.HostAlias{{IP: "10.0.0.300", Hostnames: []string{"db"}}}
		}, []want{invalid("spec.hostAliases[0].ip")}},
		{"duplicate scheduling gate", func(p *corev1.Pod) {
			p.Spec.SchedulingGates = []corev1.PodSchedulingGate{{Name: "example.com/wait"}, {Name: "example.com/wait"}}
		}, []want{duplicate("spec.schedulingGates[1].name")}},
		{"ephemeral containers on create", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Image: "busybox", ImagePullPolicy: corev1.PullAlways, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			}}}
		}, []want{forbidden("spec.ephemeralContainers")}},

		// tolerations
		{"toleration bad key", func(p *corev1.Pod) { p.Spec.Tolerations[0].Key = "a b" }, []want{invalid("spec.tolerations[0].key")}},
		{"toleration empty key with Equal", func(p *corev1.Pod) {
			p.Spec.Tolerations = []corev1.Toleration{{Operator: corev1.TolerationOpEqual, Value: "x"}}
		}, []want{invalid("spec.tolerations[0].operator")}},
		{"toleration Exists with value", func(p *corev1.Pod) { p.Spec.Tolerations[0].Value = "x" }, []want{invalid("spec.tolerations[0].operator")}},
		{"toleration bad operator", func(p *corev1.Pod) { p.Spec.Tolerations[0].Operator = "Lt" }, []want{notSupported("spec.tolerations[0].operator")}},
		{"toleration seconds without NoExecute", func(p *corev1.Pod) { p.Spec.Tolerations[0].Effect = corev1.TaintEffectNoSchedule }, []want{invalid("spec.tolerations[0].effect")}},
		{"toleration bad effect", func(p *corev1.Pod) {
			p.Spec.Tolerations[0].Effect = "Evict"
			p.Spec.Tolerations[0].TolerationSeconds = nil
		}, []want{notSupported("spec.tolerations[0].effect")}},

		// affinity and spreading
		{"node affinity without terms", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{}}}
		}, []want{required("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms")}},
		{"node affinity In without values", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn}}}},
			}}}
		}, []want{required("spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions[0].values")}},
		{"pod anti-affinity without topologyKey", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
				RequiredDuringSchedulingIgnoredDuringExecution: []corev1.PodAffinityTerm{{LabelSelector: &metav1.LabelSelector{MatchLabels: appLabels}}},
			}}
		}, []want{required("spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey")}},
		{"preferred affinity weight 0", func(p *corev1.Pod) {
			p.Spec.Affinity = &corev1.Affinity{PodAffinity: &corev1.PodAffinity{
				PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{PodAffinityTerm: corev1.PodAffinityTerm{TopologyKey: "zone"}}},
			}}
		}, []want{invalid("spec.affinity.podAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight")}},
		{"spread constraint maxSkew 0", func(p *corev1.Pod) {
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{{TopologyKey: "zone", WhenUnsatisfiable: corev1.DoNotSchedule}}
		}, []want{invalid("spec.topologySpreadConstraints[0].maxSkew")}},
		{"duplicate spread constraints", func(p *corev1.Pod) {
			c := corev1.TopologySpreadConstraint{MaxSkew: 1, TopologyKey: "zone", WhenUnsatisfiable: corev1.ScheduleAnyway}
			p.Spec.TopologySpreadConstraints = []corev1.TopologySpreadConstraint{c, c}
		}, []want{duplicate("spec.topologySpreadConstraints[1]")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			tt.mutate(p)
			checkErrs(t, Validate(p), tt.want...)
		})
	}
}

func TestPodTemplate(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*corev1.PodTemplate)
		want   []want
	}{
		{"valid", func(*corev1.PodTemplate) {}, nil},
		{"bad template label", func(pt *corev1.PodTemplate) { pt.Template.Labels = map[string]string{"a": "-"} }, []want{invalid("template.metadata.labels")}},
		{"ephemeral containers", func(pt *corev1.PodTemplate) {
			pt.Template.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "debug", Image: "busybox", ImagePullPolicy: corev1.PullAlways, TerminationMessagePolicy: corev1.TerminationMessageReadFile,
			}}}
		}, []want{forbidden("template.spec.ephemeralContainers")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pt := withDefaults(&corev1.PodTemplate{ObjectMeta: meta("tmpl"), Template: validTemplate(appLabels)})
			tt.mutate(pt)
			checkErrs(t, Validate(pt), tt.want...)
		})
	}
}
