package defaults

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Default file modes of the projected kinds of volumes (0644).
const defaultVolumeMode int32 = 0o644

// Defaults of a probe, as Kubernetes applies them.
const (
	probeTimeoutSeconds    = 1
	probePeriodSeconds     = 10
	probeSuccessThreshold  = 1
	probeFailureThreshold  = 3
	serviceAccountTokenTTL = 3600
)

// Pod defaults a pod: its spec (PodSpec), plus the defaults Kubernetes
// applies only to pods and not to pod templates: enableServiceLinks true,
// resource requests defaulted from limits, host ports from container ports
// when the pod uses the host network, and status.podIP/hostIP mirrored with
// their plural lists.
func Pod(pod *corev1.Pod) {
	PodSpec(&pod.Spec)
	spec := &pod.Spec
	if spec.EnableServiceLinks == nil {
		spec.EnableServiceLinks = ptrTo(corev1.DefaultEnableServiceLinks)
	}
	for i := range spec.InitContainers {
		requestsFromLimits(&spec.InitContainers[i].Resources)
	}
	for i := range spec.Containers {
		requestsFromLimits(&spec.Containers[i].Resources)
	}
	if spec.HostNetwork {
		hostPortsFromContainerPorts(spec.InitContainers)
		hostPortsFromContainerPorts(spec.Containers)
	}
	podStatusIPs(&pod.Status)
}

// PodTemplateSpec defaults the spec of a pod template. Labels and
// annotations have no defaults.
func PodTemplateSpec(t *corev1.PodTemplateSpec) {
	PodSpec(&t.Spec)
}

// PodSpec defaults a pod spec, wherever it appears (a pod or a template):
// dnsPolicy ClusterFirst, restartPolicy Always, an empty securityContext,
// terminationGracePeriodSeconds 30, schedulerName "default-scheduler", and
// the defaults of every container (Container), volume (Volume) and resource
// list. A Job's template gets restartPolicy Always too when it has none,
// which Job validation then rejects, as in Kubernetes.
func PodSpec(spec *corev1.PodSpec) {
	if spec.DNSPolicy == "" {
		spec.DNSPolicy = corev1.DNSClusterFirst
	}
	if spec.RestartPolicy == "" {
		spec.RestartPolicy = corev1.RestartPolicyAlways
	}
	if spec.SecurityContext == nil {
		spec.SecurityContext = &corev1.PodSecurityContext{}
	}
	if spec.TerminationGracePeriodSeconds == nil {
		spec.TerminationGracePeriodSeconds = ptrTo[int64](corev1.DefaultTerminationGracePeriodSeconds)
	}
	if spec.SchedulerName == "" {
		spec.SchedulerName = corev1.DefaultSchedulerName
	}
	// spec.serviceAccount is the deprecated alias of serviceAccountName:
	// the newer field wins, the old one mirrors it.
	if spec.ServiceAccountName == "" {
		spec.ServiceAccountName = spec.DeprecatedServiceAccount
	}
	spec.DeprecatedServiceAccount = spec.ServiceAccountName

	for i := range spec.InitContainers {
		Container(&spec.InitContainers[i])
	}
	for i := range spec.Containers {
		Container(&spec.Containers[i])
	}
	for i := range spec.EphemeralContainers {
		ephemeralContainer(&spec.EphemeralContainers[i])
	}
	for i := range spec.Volumes {
		Volume(&spec.Volumes[i])
	}
	ResourceList(spec.Overhead)
	if spec.Resources != nil {
		ResourceList(spec.Resources.Limits)
		ResourceList(spec.Resources.Requests)
	}
}

// Container defaults one container: terminationMessagePath
// /dev/termination-log, terminationMessagePolicy File, imagePullPolicy
// Always for an image tagged ":latest" or untagged (IfNotPresent otherwise),
// port protocol TCP, probe and lifecycle handler defaults, env fieldRef
// apiVersion v1, and resource quantities rounded up to milli precision.
func Container(c *corev1.Container) {
	if c.TerminationMessagePath == "" {
		c.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if c.TerminationMessagePolicy == "" {
		c.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	if c.ImagePullPolicy == "" {
		c.ImagePullPolicy = PullPolicyForImage(c.Image)
	}
	containerPorts(c.Ports)
	env(c.Env)
	ResourceList(c.Resources.Limits)
	ResourceList(c.Resources.Requests)
	Probe(c.LivenessProbe)
	Probe(c.ReadinessProbe)
	Probe(c.StartupProbe)
	lifecycle(c.Lifecycle)
}

func ephemeralContainer(c *corev1.EphemeralContainer) {
	ec := &c.EphemeralContainerCommon
	if ec.TerminationMessagePath == "" {
		ec.TerminationMessagePath = corev1.TerminationMessagePathDefault
	}
	if ec.TerminationMessagePolicy == "" {
		ec.TerminationMessagePolicy = corev1.TerminationMessageReadFile
	}
	if ec.ImagePullPolicy == "" {
		ec.ImagePullPolicy = PullPolicyForImage(ec.Image)
	}
	containerPorts(ec.Ports)
	env(ec.Env)
	ResourceList(ec.Resources.Limits)
	ResourceList(ec.Resources.Requests)
	Probe(ec.LivenessProbe)
	Probe(ec.ReadinessProbe)
	Probe(ec.StartupProbe)
	lifecycle(ec.Lifecycle)
}

// PullPolicyForImage is the imagePullPolicy Kubernetes defaults for an
// image reference: Always when the tag is "latest" or when there is neither
// a tag nor a digest ("busybox" means "busybox:latest"), IfNotPresent
// otherwise (including "busybox@sha256:..." and an empty image).
func PullPolicyForImage(image string) corev1.PullPolicy {
	if image == "" {
		return corev1.PullIfNotPresent
	}
	ref, _, hasDigest := strings.Cut(image, "@")
	tag := ""
	// The tag follows the last ':' after the last '/': a ':' before a '/'
	// separates a registry host from its port.
	if i := strings.LastIndexByte(ref, ':'); i > strings.LastIndexByte(ref, '/') {
		tag = ref[i+1:]
	}
	if tag == "" && !hasDigest {
		tag = "latest"
	}
	if tag == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

func containerPorts(ports []corev1.ContainerPort) {
	for i := range ports {
		if ports[i].Protocol == "" {
			ports[i].Protocol = corev1.ProtocolTCP
		}
	}
}

func env(vars []corev1.EnvVar) {
	for i := range vars {
		if vf := vars[i].ValueFrom; vf != nil && vf.FieldRef != nil && vf.FieldRef.APIVersion == "" {
			vf.FieldRef.APIVersion = "v1"
		}
	}
}

// Probe defaults a probe (nil is allowed and left alone): timeoutSeconds 1,
// periodSeconds 10, successThreshold 1, failureThreshold 3, and the
// handler's defaults (httpGet path "/" and scheme HTTP, grpc service "").
func Probe(p *corev1.Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = probeTimeoutSeconds
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = probePeriodSeconds
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = probeSuccessThreshold
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = probeFailureThreshold
	}
	httpGet(p.HTTPGet)
	if p.GRPC != nil && p.GRPC.Service == nil {
		p.GRPC.Service = ptrTo("")
	}
}

func lifecycle(l *corev1.Lifecycle) {
	if l == nil {
		return
	}
	for _, h := range []*corev1.LifecycleHandler{l.PostStart, l.PreStop} {
		if h != nil {
			httpGet(h.HTTPGet)
		}
	}
}

func httpGet(h *corev1.HTTPGetAction) {
	if h == nil {
		return
	}
	if h.Path == "" {
		h.Path = "/"
	}
	if h.Scheme == "" {
		h.Scheme = corev1.URISchemeHTTP
	}
}

// requestsFromLimits sets each request that is missing to its limit. It
// applies to pods only: a template keeps what its author wrote.
func requestsFromLimits(r *corev1.ResourceRequirements) {
	if len(r.Limits) == 0 {
		return
	}
	if r.Requests == nil {
		r.Requests = corev1.ResourceList{}
	}
	for name, limit := range r.Limits {
		if _, ok := r.Requests[name]; !ok {
			r.Requests[name] = limit.DeepCopy()
		}
	}
}

func hostPortsFromContainerPorts(containers []corev1.Container) {
	for i := range containers {
		for j := range containers[i].Ports {
			p := &containers[i].Ports[j]
			if p.HostPort == 0 {
				p.HostPort = p.ContainerPort
			}
		}
	}
}

func podStatusIPs(s *corev1.PodStatus) {
	if len(s.PodIPs) > 0 {
		s.PodIP = s.PodIPs[0].IP
	} else if s.PodIP != "" {
		s.PodIPs = []corev1.PodIP{{IP: s.PodIP}}
	}
	if len(s.HostIPs) > 0 {
		s.HostIP = s.HostIPs[0].IP
	} else if s.HostIP != "" {
		s.HostIPs = []corev1.HostIP{{IP: s.HostIP}}
	}
}

// ResourceList rounds every quantity up to milli precision (1.0001 becomes
// 1.001), as Kubernetes does for API compatibility. A nil list is left nil.
func ResourceList(l corev1.ResourceList) {
	for name, q := range l {
		if q.RoundUp(-3) {
			l[name] = q
		}
	}
}

// Volume defaults a pod volume: a volume without any source becomes an
// emptyDir; secret, configMap, downwardAPI and projected volumes get
// defaultMode 0644; hostPath gets type "" (unset); a service account token
// projection expires after 3600 seconds.
func Volume(v *corev1.Volume) {
	src := &v.VolumeSource
	if (*src == corev1.VolumeSource{}) {
		src.EmptyDir = &corev1.EmptyDirVolumeSource{}
	}
	if src.Secret != nil && src.Secret.DefaultMode == nil {
		src.Secret.DefaultMode = ptrTo(defaultVolumeMode)
	}
	if src.ConfigMap != nil && src.ConfigMap.DefaultMode == nil {
		src.ConfigMap.DefaultMode = ptrTo(defaultVolumeMode)
	}
	if src.DownwardAPI != nil {
		if src.DownwardAPI.DefaultMode == nil {
			src.DownwardAPI.DefaultMode = ptrTo(defaultVolumeMode)
		}
		downwardAPIItems(src.DownwardAPI.Items)
	}
	if src.Projected != nil {
		if src.Projected.DefaultMode == nil {
			src.Projected.DefaultMode = ptrTo(defaultVolumeMode)
		}
		for i := range src.Projected.Sources {
			ps := &src.Projected.Sources[i]
			if ps.ServiceAccountToken != nil && ps.ServiceAccountToken.ExpirationSeconds == nil {
				ps.ServiceAccountToken.ExpirationSeconds = ptrTo[int64](serviceAccountTokenTTL)
			}
			if ps.DownwardAPI != nil {
				downwardAPIItems(ps.DownwardAPI.Items)
			}
		}
	}
	if src.HostPath != nil && src.HostPath.Type == nil {
		src.HostPath.Type = ptrTo(corev1.HostPathUnset)
	}
	if src.ISCSI != nil && src.ISCSI.ISCSIInterface == "" {
		src.ISCSI.ISCSIInterface = "default"
	}
	if src.Ephemeral != nil && src.Ephemeral.VolumeClaimTemplate != nil {
		persistentVolumeClaimSpec(&src.Ephemeral.VolumeClaimTemplate.Spec)
	}
}

func downwardAPIItems(items []corev1.DownwardAPIVolumeFile) {
	for i := range items {
		if items[i].FieldRef != nil && items[i].FieldRef.APIVersion == "" {
			items[i].FieldRef.APIVersion = "v1"
		}
	}
}

// targetPortOrPort returns the target port a service port defaults to.
func targetPortOrPort(p *corev1.ServicePort) intstr.IntOrString {
	if (p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal == 0) ||
		(p.TargetPort.Type == intstr.String && p.TargetPort.StrVal == "") {
		return intstr.FromInt32(p.Port)
	}
	return p.TargetPort
}
