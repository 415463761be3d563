package validation

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	supportedRestartPolicies = []corev1.RestartPolicy{corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}
	supportedDNSPolicies     = []corev1.DNSPolicy{corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone}
	supportedPullPolicies    = []corev1.PullPolicy{corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever}
	supportedTermMsgPolicies = []corev1.TerminationMessagePolicy{corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError}
	supportedURISchemes      = []corev1.URIScheme{corev1.URISchemeHTTP, corev1.URISchemeHTTPS}
	supportedPreemption      = []corev1.PreemptionPolicy{corev1.PreemptLowerPriority, corev1.PreemptNever}
	supportedOSNames         = []corev1.OSName{corev1.Linux, corev1.Windows}
	supportedWhenUnsat       = []corev1.UnsatisfiableConstraintAction{corev1.DoNotSchedule, corev1.ScheduleAnyway}
	supportedInclusion       = []corev1.NodeInclusionPolicy{corev1.NodeInclusionPolicyHonor, corev1.NodeInclusionPolicyIgnore}
	supportedPropagation     = []corev1.MountPropagationMode{corev1.MountPropagationNone, corev1.MountPropagationHostToContainer, corev1.MountPropagationBidirectional}
	supportedRecursiveRO     = []corev1.RecursiveReadOnlyMode{corev1.RecursiveReadOnlyDisabled, corev1.RecursiveReadOnlyIfPossible, corev1.RecursiveReadOnlyEnabled}
)

// The fields of a pod that environment variables may refer to with
// valueFrom.fieldRef (besides metadata.labels['key'] and
// metadata.annotations['key']).
var envFieldPaths = []string{
	"metadata.name", "metadata.namespace", "metadata.uid",
	"spec.nodeName", "spec.serviceAccountName",
	"status.hostIP", "status.hostIPs", "status.podIP", "status.podIPs",
}

// The resources environment variables may refer to with resourceFieldRef.
var envResourcePaths = []string{
	"limits.cpu", "limits.ephemeral-storage", "limits.memory",
	"requests.cpu", "requests.ephemeral-storage", "requests.memory",
}

// The kinds of containers in a pod spec, which differ in what they may set.
type containerKind int

const (
	regularContainer containerKind = iota
	initContainer
	ephemeralContainer
)

// podSpecContext is what the validation of one part of a pod spec needs to
// know about the rest.
type podSpecContext struct {
	spec    *corev1.PodSpec
	volumes map[string]*corev1.VolumeSource
	names   map[string]bool // container names seen so far
}

// Pod validates a pod about to be created: its metadata, its spec
// (PodSpec), and that it has no ephemeral containers yet (they are added
// through the ephemeralcontainers subresource).
func Pod(pod *corev1.Pod) field.ErrorList {
	errs := ObjectMeta(&pod.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	specPath := field.NewPath("spec")
	errs = append(errs, PodSpec(&pod.Spec, specPath)...)
	if len(pod.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), "cannot be set on create"))
	}
	return errs
}

// PodTemplate validates a core/v1 PodTemplate object.
func PodTemplate(t *corev1.PodTemplate) field.ErrorList {
	errs := ObjectMeta(&t.ObjectMeta, NamespacedSubdomain, field.NewPath("metadata"))
	return append(errs, PodTemplateSpec(&t.Template, field.NewPath("template"))...)
}

// PodTemplateSpec validates a pod template embedded in another object at
// fldPath (e.g. spec.template): the labels and annotations of its
// metadata, its spec, and that it has no ephemeral containers.
func PodTemplateSpec(t *corev1.PodTemplateSpec, fldPath *field.Path) field.ErrorList {
	metaPath := fldPath.Child("metadata")
	errs := metav1validation.ValidateLabels(t.Labels, metaPath.Child("labels"))
	errs = append(errs, apimachineryvalidation.ValidateAnnotations(t.Annotations, metaPath.Child("annotations"))...)
	specPath := fldPath.Child("spec")
	errs = append(errs, PodSpec(&t.Spec, specPath)...)
	if len(t.Spec.EphemeralContainers) > 0 {
		errs = append(errs, field.Forbidden(specPath.Child("ephemeralContainers"), "ephemeral containers not allowed in pod template"))
	}
	return errs
}

// PodSpec validates a pod spec found at fldPath: volumes, containers (at
// least one; names unique across init, regular and ephemeral containers),
// restartPolicy, dnsPolicy and dnsConfig, nodeSelector, names of other
// objects it refers to, activeDeadlineSeconds, security context,
// tolerations, affinity, topology spread constraints, host aliases,
// readiness and scheduling gates, and host ports.
func PodSpec(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	ctx := &podSpecContext{spec: spec, names: map[string]bool{}}
	var errs field.ErrorList
	ctx.volumes, errs = volumes(spec.Volumes, fldPath.Child("volumes"))

	for i := range spec.InitContainers {
		errs = append(errs, container(&spec.InitContainers[i], initContainer, fldPath.Child("initContainers").Index(i), ctx)...)
	}
	if len(spec.Containers) == 0 {
		errs = append(errs, field.Required(fldPath.Child("containers"), ""))
	}
	for i := range spec.Containers {
		errs = append(errs, container(&spec.Containers[i], regularContainer, fldPath.Child("containers").Index(i), ctx)...)
	}
	for i := range spec.EphemeralContainers {
		errs = append(errs, ephemeral(&spec.EphemeralContainers[i], fldPath.Child("ephemeralContainers").Index(i), ctx)...)
	}
	errs = append(errs, hostPorts(spec, fldPath)...)

	switch spec.RestartPolicy {
	case corev1.RestartPolicyAlways, corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever:
	case "":
		errs = append(errs, field.Required(fldPath.Child("restartPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("restartPolicy"), spec.RestartPolicy, supportedRestartPolicies))
	}
	errs = append(errs, dns(spec, fldPath)...)
	errs = append(errs, metav1validation.ValidateLabels(spec.NodeSelector, fldPath.Child("nodeSelector"))...)

	if spec.ServiceAccountName != "" {
		errs = append(errs, messages(fldPath.Child("serviceAccountName"), spec.ServiceAccountName,
			apimachineryvalidation.ValidateServiceAccountName(spec.ServiceAccountName, false))...)
	}
	if spec.NodeName != "" {
		errs = append(errs, dnsSubdomain(spec.NodeName, fldPath.Child("nodeName"))...)
	}
	if spec.Hostname != "" {
		errs = append(errs, dnsLabel(spec.Hostname, fldPath.Child("hostname"))...)
	}
	if spec.Subdomain != "" {
		errs = append(errs, dnsLabel(spec.Subdomain, fldPath.Child("subdomain"))...)
	}
	if spec.SchedulerName != "" {
		errs = append(errs, dnsSubdomain(spec.SchedulerName, fldPath.Child("schedulerName"))...)
	}
	if spec.PriorityClassName != "" {
		errs = append(errs, dnsSubdomain(spec.PriorityClassName, fldPath.Child("priorityClassName"))...)
	}
	if spec.RuntimeClassName != nil {
		errs = append(errs, dnsSubdomain(*spec.RuntimeClassName, fldPath.Child("runtimeClassName"))...)
	}
	if spec.PreemptionPolicy != nil && !slices.Contains(supportedPreemption, *spec.PreemptionPolicy) {
		errs = append(errs, field.NotSupported(fldPath.Child("preemptionPolicy"), *spec.PreemptionPolicy, supportedPreemption))
	}
	if spec.ActiveDeadlineSeconds != nil {
		errs = append(errs, inRange32(*spec.ActiveDeadlineSeconds, 1, fldPath.Child("activeDeadlineSeconds"))...)
	}
	errs = append(errs, nonNegativePtr(spec.TerminationGracePeriodSeconds, fldPath.Child("terminationGracePeriodSeconds"))...)
	if spec.OS != nil {
		p := fldPath.Child("os", "name")
		if spec.OS.Name == "" {
			errs = append(errs, field.Required(p, ""))
		} else if !slices.Contains(supportedOSNames, spec.OS.Name) {
			errs = append(errs, field.NotSupported(p, spec.OS.Name, supportedOSNames))
		}
	}
	errs = append(errs, podSecurityContext(spec.SecurityContext, fldPath.Child("securityContext"))...)
	errs = append(errs, Tolerations(spec.Tolerations, fldPath.Child("tolerations"))...)
	errs = append(errs, affinity(spec.Affinity, fldPath.Child("affinity"))...)
	errs = append(errs, topologySpread(spec.TopologySpreadConstraints, fldPath.Child("topologySpreadConstraints"))...)
	errs = append(errs, hostAliases(spec.HostAliases, fldPath.Child("hostAliases"))...)
	for i, g := range spec.ReadinessGates {
		errs = append(errs, qualifiedName(string(g.ConditionType), fldPath.Child("readinessGates").Index(i).Child("conditionType"))...)
	}
	errs = append(errs, schedulingGates(spec.SchedulingGates, fldPath.Child("schedulingGates"))...)
	if spec.Resources != nil {
		errs = append(errs, resources(spec.Resources, fldPath.Child("resources"))...)
	}
	return errs
}

// container validates one init or regular container.
func container(c *corev1.Container, kind containerKind, p *field.Path, ctx *podSpecContext) field.ErrorList {
	errs := containerName(c.Name, p.Child("name"), ctx)
	errs = append(errs, containerCommon(c, p, ctx)...)

	restartable := false
	if c.RestartPolicy != nil {
		rp := p.Child("restartPolicy")
		switch {
		case kind != initContainer:
			errs = append(errs, field.Forbidden(rp, "may not be set for non-init containers"))
		case *c.RestartPolicy != corev1.ContainerRestartPolicyAlways:
			errs = append(errs, field.NotSupported(rp, *c.RestartPolicy, []corev1.ContainerRestartPolicy{corev1.ContainerRestartPolicyAlways}))
		default:
			restartable = true
		}
	}
	if len(c.RestartPolicyRules) > 0 {
		errs = append(errs, field.Forbidden(p.Child("restartPolicyRules"), "container restart rules are not enabled"))
	}

	if kind == initContainer && !restartable {
		const msg = "may not be set for init containers without restartPolicy=Always"
		if c.Lifecycle != nil {
			errs = append(errs, field.Forbidden(p.Child("lifecycle"), msg))
		}
		if c.LivenessProbe != nil {
			errs = append(errs, field.Forbidden(p.Child("livenessProbe"), msg))
		}
		if c.ReadinessProbe != nil {
			errs = append(errs, field.Forbidden(p.Child("readinessProbe"), msg))
		}
		if c.StartupProbe != nil {
			errs = append(errs, field.Forbidden(p.Child("startupProbe"), msg))
		}
		return errs
	}
	grace := ctx.spec.TerminationGracePeriodSeconds
	errs = append(errs, lifecycle(c.Lifecycle, grace, p.Child("lifecycle"))...)
	errs = append(errs, probe(c.LivenessProbe, p.Child("livenessProbe"), true)...)
	errs = append(errs, probe(c.StartupProbe, p.Child("startupProbe"), true)...)
	errs = append(errs, probe(c.ReadinessProbe, p.Child("readinessProbe"), false)...)
	if pr := c.ReadinessProbe; pr != nil && pr.TerminationGracePeriodSeconds != nil {
		errs = append(errs, field.Invalid(p.Child("readinessProbe", "terminationGracePeriodSeconds"),
			*pr.TerminationGracePeriodSeconds, "must not be set for readinessProbes"))
	}
	return errs
}

// ephemeral validates an ephemeral container: the common container fields,
// plus that it sets none of the fields that make no sense for a container
// added to a running pod, and that its target container exists.
func ephemeral(ec *corev1.EphemeralContainer, p *field.Path, ctx *podSpecContext) field.ErrorList {
	c := (*corev1.Container)(&ec.EphemeralContainerCommon)
	errs := containerName(c.Name, p.Child("name"), ctx)
	errs = append(errs, containerCommon(c, p, ctx)...)
	const msg = "cannot be set for an Ephemeral Container"
	if len(c.Ports) > 0 {
		errs = append(errs, field.Forbidden(p.Child("ports"), msg))
	}
	if len(c.Resources.Limits)+len(c.Resources.Requests)+len(c.Resources.Claims) > 0 {
		errs = append(errs, field.Forbidden(p.Child("resources"), msg))
	}
	for _, f := range []struct {
		name string
		set  bool
	}{
		{"lifecycle", c.Lifecycle != nil}, {"livenessProbe", c.LivenessProbe != nil},
		{"readinessProbe", c.ReadinessProbe != nil}, {"startupProbe", c.StartupProbe != nil},
		{"restartPolicy", c.RestartPolicy != nil},
	} {
		if f.set {
			errs = append(errs, field.Forbidden(p.Child(f.name), msg))
		}
	}
	if t := ec.TargetContainerName; t != "" {
		found := false
		for _, o := range slices.Concat(ctx.spec.InitContainers, ctx.spec.Containers) {
			found = found || o.Name == t
		}
		if !found {
			errs = append(errs, field.NotFound(p.Child("targetContainerName"), t))
		}
	}
	return errs
}

func containerName(name string, p *field.Path, ctx *podSpecContext) field.ErrorList {
	switch {
	case name == "":
		return field.ErrorList{field.Required(p, "")}
	case ctx.names[name]:
		return field.ErrorList{field.Duplicate(p, name)}
	}
	ctx.names[name] = true
	return dnsLabel(name, p)
}

// containerCommon validates what every kind of container has.
func containerCommon(c *corev1.Container, p *field.Path, ctx *podSpecContext) field.ErrorList {
	var errs field.ErrorList
	if c.Image == "" {
		errs = append(errs, field.Required(p.Child("image"), ""))
	} else if strings.TrimSpace(c.Image) != c.Image {
		errs = append(errs, field.Invalid(p.Child("image"), c.Image, "must not have leading or trailing whitespace"))
	}
	switch c.ImagePullPolicy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	case "":
		errs = append(errs, field.Required(p.Child("imagePullPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(p.Child("imagePullPolicy"), c.ImagePullPolicy, supportedPullPolicies))
	}
	switch c.TerminationMessagePolicy {
	case corev1.TerminationMessageReadFile, corev1.TerminationMessageFallbackToLogsOnError:
	case "":
		errs = append(errs, field.Required(p.Child("terminationMessagePolicy"), "must be 'File' or 'FallbackToLogsOnError'"))
	default:
		errs = append(errs, field.NotSupported(p.Child("terminationMessagePolicy"), c.TerminationMessagePolicy, supportedTermMsgPolicies))
	}
	errs = append(errs, containerPorts(c.Ports, ctx.spec.HostNetwork, p.Child("ports"))...)
	errs = append(errs, envVars(c.Env, p.Child("env"))...)
	errs = append(errs, envFrom(c.EnvFrom, p.Child("envFrom"))...)
	errs = append(errs, volumeMounts(c, ctx.volumes, p)...)
	errs = append(errs, resources(&c.Resources, p.Child("resources"))...)
	errs = append(errs, containerSecurityContext(c.SecurityContext, p.Child("securityContext"))...)
	return errs
}

func containerPorts(ports []corev1.ContainerPort, hostNetwork bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	names := map[string]bool{}
	for i, port := range ports {
		pp := p.Index(i)
		if port.Name != "" {
			errs = append(errs, messages(pp.Child("name"), port.Name, validation.IsValidPortName(port.Name))...)
			if names[port.Name] {
				errs = append(errs, field.Duplicate(pp.Child("name"), port.Name))
			}
			names[port.Name] = true
		}
		if port.ContainerPort == 0 {
			errs = append(errs, field.Required(pp.Child("containerPort"), ""))
		} else {
			errs = append(errs, portNum(port.ContainerPort, pp.Child("containerPort"))...)
		}
		if port.HostPort != 0 {
			errs = append(errs, portNum(port.HostPort, pp.Child("hostPort"))...)
			if hostNetwork && port.HostPort != port.ContainerPort {
				errs = append(errs, field.Invalid(pp.Child("hostPort"), port.HostPort, "must match `containerPort` when `hostNetwork` is true"))
			}
		}
		if port.HostIP != "" {
			errs = append(errs, ip(port.HostIP, pp.Child("hostIP"))...)
		}
		errs = append(errs, protocol(port.Protocol, pp.Child("protocol"))...)
	}
	return errs
}

// hostPorts reports two containers of a pod asking for the same host port.
func hostPorts(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, c := range spec.Containers {
		for j, port := range c.Ports {
			if port.HostPort == 0 {
				continue
			}
			key := fmt.Sprintf("%s/%s/%d", port.Protocol, port.HostIP, port.HostPort)
			if seen[key] {
				errs = append(errs, field.Duplicate(fldPath.Child("containers").Index(i).Child("ports").Index(j).Child("hostPort"), key))
			}
			seen[key] = true
		}
	}
	return errs
}

func envVars(vars []corev1.EnvVar, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, ev := range vars {
		ep := p.Index(i)
		if ev.Name == "" {
			errs = append(errs, field.Required(ep.Child("name"), ""))
		} else {
			errs = append(errs, messages(ep.Child("name"), ev.Name, validation.IsRelaxedEnvVarName(ev.Name))...)
		}
		errs = append(errs, envVarSource(&ev, ep.Child("valueFrom"))...)
	}
	return errs
}

func envVarSource(ev *corev1.EnvVar, p *field.Path) field.ErrorList {
	vf := ev.ValueFrom
	if vf == nil {
		return nil
	}
	var errs field.ErrorList
	n := 0
	if vf.FieldRef != nil {
		n++
		errs = append(errs, objectFieldSelector(vf.FieldRef, envFieldPaths, p.Child("fieldRef"))...)
	}
	if vf.ResourceFieldRef != nil {
		n++
		errs = append(errs, resourceFieldSelector(vf.ResourceFieldRef, false, p.Child("resourceFieldRef"))...)
	}
	if r := vf.ConfigMapKeyRef; r != nil {
		n++
		errs = append(errs, keySelector(r.Name, r.Key, p.Child("configMapKeyRef"))...)
	}
	if r := vf.SecretKeyRef; r != nil {
		n++
		errs = append(errs, keySelector(r.Name, r.Key, p.Child("secretKeyRef"))...)
	}
	if vf.FileKeyRef != nil {
		n++
		errs = append(errs, field.Forbidden(p.Child("fileKeyRef"), "environment variables from files are not enabled"))
	}
	switch {
	case ev.Value != "" && n > 0:
		errs = append(errs, field.Invalid(p, "", "may not be specified when `value` is not empty"))
	case n == 0:
		errs = append(errs, field.Invalid(p, "", "must specify one of: `fieldRef`, `resourceFieldRef`, `configMapKeyRef` or `secretKeyRef`"))
	case n > 1:
		errs = append(errs, field.Invalid(p, "", "may not have more than one field specified at a time"))
	}
	return errs
}

func keySelector(name, key string, p *field.Path) field.ErrorList {
	errs := dnsSubdomain(name, p.Child("name"))
	if key == "" {
		errs = append(errs, field.Required(p.Child("key"), ""))
	} else {
		errs = append(errs, messages(p.Child("key"), key, validation.IsConfigMapKey(key))...)
	}
	return errs
}

// objectFieldSelector checks a reference to a field of the pod, for an
// environment variable or a downward API volume file.
func objectFieldSelector(fs *corev1.ObjectFieldSelector, allowed []string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if fs.APIVersion == "" {
		errs = append(errs, field.Required(p.Child("apiVersion"), ""))
	} else if fs.APIVersion != "v1" {
		errs = append(errs, field.Invalid(p.Child("apiVersion"), fs.APIVersion, "must be v1"))
	}
	fp := p.Child("fieldPath")
	if fs.FieldPath == "" {
		return append(errs, field.Required(fp, ""))
	}
	if base, key, ok := subscript(fs.FieldPath); ok {
		switch base {
		case "metadata.labels":
			return append(errs, messages(fp, fs.FieldPath, validation.IsQualifiedName(key))...)
		case "metadata.annotations":
			return append(errs, messages(fp, fs.FieldPath, validation.IsQualifiedName(strings.ToLower(key)))...)
		}
		return append(errs, field.Invalid(fp, fs.FieldPath, "does not support subscript"))
	}
	if !slices.Contains(allowed, fs.FieldPath) {
		errs = append(errs, field.NotSupported(fp, fs.FieldPath, allowed))
	}
	return errs
}

// subscript splits "metadata.labels['app']" into "metadata.labels" and
// "app".
func subscript(fieldPath string) (base, key string, ok bool) {
	open := strings.Index(fieldPath, "['")
	if open < 0 || !strings.HasSuffix(fieldPath, "']") || open+2 > len(fieldPath)-2 {
		return "", "", false
	}
	return fieldPath[:open], fieldPath[open+2 : len(fieldPath)-2], true
}

func resourceFieldSelector(rs *corev1.ResourceFieldSelector, containerRequired bool, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if containerRequired && rs.ContainerName == "" {
		errs = append(errs, field.Required(p.Child("containerName"), ""))
	}
	switch {
	case rs.Resource == "":
		errs = append(errs, field.Required(p.Child("resource"), ""))
	case slices.Contains(envResourcePaths, rs.Resource),
		strings.HasPrefix(rs.Resource, "limits."+corev1.ResourceHugePagesPrefix),
		strings.HasPrefix(rs.Resource, "requests."+corev1.ResourceHugePagesPrefix):
	default:
		errs = append(errs, field.NotSupported(p.Child("resource"), rs.Resource, envResourcePaths))
	}
	if rs.Divisor.Sign() < 0 {
		errs = append(errs, field.Invalid(p.Child("divisor"), rs.Divisor.String(), nonNegativeMsg))
	}
	return errs
}

func envFrom(sources []corev1.EnvFromSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, s := range sources {
		sp := p.Index(i)
		if s.Prefix != "" {
			errs = append(errs, messages(sp.Child("prefix"), s.Prefix, validation.IsRelaxedEnvVarName(s.Prefix))...)
		}
		n := 0
		if s.ConfigMapRef != nil {
			n++
			errs = append(errs, dnsSubdomain(s.ConfigMapRef.Name, sp.Child("configMapRef", "name"))...)
		}
		if s.SecretRef != nil {
			n++
			errs = append(errs, dnsSubdomain(s.SecretRef.Name, sp.Child("secretRef", "name"))...)
		}
		switch {
		case n == 0:
			errs = append(errs, field.Invalid(sp, "", "must specify one of: `configMapRef` or `secretRef`"))
		case n > 1:
			errs = append(errs, field.Invalid(sp, "", "may not have more than one field specified at a time"))
		}
	}
	return errs
}

func volumeMounts(c *corev1.Container, vols map[string]*corev1.VolumeSource, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	privileged := c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged
	paths := map[string]bool{}
	for i, m := range c.VolumeMounts {
		mp := p.Child("volumeMounts").Index(i)
		if m.Name == "" {
			errs = append(errs, field.Required(mp.Child("name"), ""))
		} else if _, ok := vols[m.Name]; !ok {
			errs = append(errs, field.NotFound(mp.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			errs = append(errs, field.Required(mp.Child("mountPath"), ""))
		} else if paths[m.MountPath] {
			errs = append(errs, field.Invalid(mp.Child("mountPath"), m.MountPath, "must be unique"))
		}
		paths[m.MountPath] = true
		if m.SubPath != "" {
			errs = append(errs, localDescendingPath(m.SubPath, mp.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			if m.SubPath != "" {
				errs = append(errs, field.Invalid(mp.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			errs = append(errs, localDescendingPath(m.SubPathExpr, mp.Child("subPathExpr"))...)
		}
		if m.MountPropagation != nil {
			switch mode := *m.MountPropagation; {
			case !slices.Contains(supportedPropagation, mode):
				errs = append(errs, field.NotSupported(mp.Child("mountPropagation"), mode, supportedPropagation))
			case mode == corev1.MountPropagationBidirectional && !privileged:
				errs = append(errs, field.Forbidden(mp.Child("mountPropagation"), "Bidirectional mount propagation is available only to privileged containers"))
			}
		}
		if m.RecursiveReadOnly != nil {
			switch mode := *m.RecursiveReadOnly; {
			case !slices.Contains(supportedRecursiveRO, mode):
				errs = append(errs, field.NotSupported(mp.Child("recursiveReadOnly"), mode, supportedRecursiveRO))
			case mode != corev1.RecursiveReadOnlyDisabled && !m.ReadOnly:
				errs = append(errs, field.Forbidden(mp.Child("recursiveReadOnly"), "may only be specified when readOnly is true"))
			}
		}
	}
	for i, d := range c.VolumeDevices {
		dp := p.Child("volumeDevices").Index(i)
		if d.Name == "" {
			errs = append(errs, field.Required(dp.Child("name"), ""))
		} else if src, ok := vols[d.Name]; !ok {
			errs = append(errs, field.NotFound(dp.Child("name"), d.Name))
		} else if src.PersistentVolumeClaim == nil && src.Ephemeral == nil {
			errs = append(errs, field.Invalid(dp.Child("name"), d.Name, "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode"))
		}
		if d.DevicePath == "" {
			errs = append(errs, field.Required(dp.Child("devicePath"), ""))
		} else if paths[d.DevicePath] {
			errs = append(errs, field.Invalid(dp.Child("devicePath"), d.DevicePath, "conflicts with volumeMount"))
		}
	}
	return errs
}

// localDescendingPath checks a path that must stay below the directory it
// is relative to: not absolute, no ".." element.
func localDescendingPath(path string, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	if strings.HasPrefix(path, "/") {
		errs = append(errs, field.Invalid(p, path, "must be a relative path"))
	}
	if slices.Contains(strings.Split(strings.ReplaceAll(path, `\`, "/"), "/"), "..") {
		errs = append(errs, field.Invalid(p, path, "must not contain '..'"))
	}
	return errs
}

// probe validates a liveness, readiness or startup probe. Liveness and
// startup probes must have successThreshold 1.
func probe(pr *corev1.Probe, p *field.Path, successMustBeOne bool) field.ErrorList {
	if pr == nil {
		return nil
	}
	errs := handler(handlerActions{
		exec: pr.Exec, httpGet: pr.HTTPGet, tcpSocket: pr.TCPSocket, grpc: pr.GRPC,
	}, nil, p)
	errs = append(errs, nonNegative(int64(pr.InitialDelaySeconds), p.Child("initialDelaySeconds"))...)
	errs = append(errs, nonNegative(int64(pr.TimeoutSeconds), p.Child("timeoutSeconds"))...)
	errs = append(errs, nonNegative(int64(pr.PeriodSeconds), p.Child("periodSeconds"))...)
	errs = append(errs, nonNegative(int64(pr.SuccessThreshold), p.Child("successThreshold"))...)
	errs = append(errs, nonNegative(int64(pr.FailureThreshold), p.Child("failureThreshold"))...)
	if successMustBeOne && pr.SuccessThreshold != 1 {
		errs = append(errs, field.Invalid(p.Child("successThreshold"), pr.SuccessThreshold, "must be 1"))
	}
	if pr.TerminationGracePeriodSeconds != nil && *pr.TerminationGracePeriodSeconds <= 0 {
		errs = append(errs, field.Invalid(p.Child("terminationGracePeriodSeconds"), *pr.TerminationGracePeriodSeconds, positiveMsg))
	}
	return errs
}

func lifecycle(l *corev1.Lifecycle, grace *int64, p *field.Path) field.ErrorList {
	if l == nil {
		return nil
	}
	var errs field.ErrorList
	for _, hook := range []struct {
		name string
		h    *corev1.LifecycleHandler
	}{{"postStart", l.PostStart}, {"preStop", l.PreStop}} {
		if h := hook.h; h != nil {
			errs = append(errs, handler(handlerActions{
				exec: h.Exec, httpGet: h.HTTPGet, tcpSocket: h.TCPSocket, sleep: h.Sleep,
			}, grace, p.Child(hook.name))...)
		}
	}
	if l.StopSignal != nil {
		errs = append(errs, field.Forbidden(p.Child("stopSignal"), "container stop signals are not enabled"))
	}
	return errs
}

// handlerActions are the actions of a probe or lifecycle handler, exactly
// one of which must be set.
type handlerActions struct {
	exec      *corev1.ExecAction
	httpGet   *corev1.HTTPGetAction
	tcpSocket *corev1.TCPSocketAction
	grpc      *corev1.GRPCAction
	sleep     *corev1.SleepAction
}

func handler(h handlerActions, grace *int64, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	n := 0
	one := func(set bool, name string, check func(*field.Path) field.ErrorList) {
		if !set {
			return
		}
		if n > 0 {
			errs = append(errs, field.Forbidden(p.Child(name), "may not specify more than 1 handler type"))
			return
		}
		n++
		errs = append(errs, check(p.Child(name))...)
	}
	one(h.exec != nil, "exec", func(p *field.Path) field.ErrorList {
		if len(h.exec.Command) == 0 {
			return field.ErrorList{field.Required(p.Child("command"), "")}
		}
		return nil
	})
	one(h.httpGet != nil, "httpGet", func(p *field.Path) field.ErrorList {
		var errs field.ErrorList
		if h.httpGet.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), ""))
		}
		errs = append(errs, portNumOrName(h.httpGet.Port, p.Child("port"))...)
		if !slices.Contains(supportedURISchemes, h.httpGet.Scheme) {
			errs = append(errs, field.NotSupported(p.Child("scheme"), h.httpGet.Scheme, supportedURISchemes))
		}
		for i, hdr := range h.httpGet.HTTPHeaders {
			errs = append(errs, messages(p.Child("httpHeaders").Index(i).Child("name"), hdr.Name, validation.IsHTTPHeaderName(hdr.Name))...)
		}
		return errs
	})
	one(h.tcpSocket != nil, "tcpSocket", func(p *field.Path) field.ErrorList {
		return portNumOrName(h.tcpSocket.Port, p.Child("port"))
	})
	one(h.grpc != nil, "grpc", func(p *field.Path) field.ErrorList {
		return portNum(h.grpc.Port, p.Child("port"))
	})
	one(h.sleep != nil, "sleep", func(p *field.Path) field.ErrorList {
		max := int64(corev1.DefaultTerminationGracePeriodSeconds)
		if grace != nil {
			max = *grace
		}
		if s := h.sleep.Seconds; s < 0 || s > max {
			return field.ErrorList{field.Invalid(p.Child("seconds"), s,
				fmt.Sprintf("must be non-negative and less than terminationGracePeriodSeconds (%d)", max))}
		}
		return nil
	})
	if n == 0 {
		errs = append(errs, field.Required(p, "must specify a handler type"))
	}
	return errs
}

func podSecurityContext(sc *corev1.PodSecurityContext, p *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	if sc.RunAsUser != nil {
		errs = append(errs, messages(p.Child("runAsUser"), *sc.RunAsUser, validation.IsValidUserID(*sc.RunAsUser))...)
	}
	if sc.RunAsGroup != nil {
		errs = append(errs, messages(p.Child("runAsGroup"), *sc.RunAsGroup, validation.IsValidGroupID(*sc.RunAsGroup))...)
	}
	if sc.FSGroup != nil {
		errs = append(errs, messages(p.Child("fsGroup"), *sc.FSGroup, validation.IsValidGroupID(*sc.FSGroup))...)
	}
	for i, g := range sc.SupplementalGroups {
		errs = append(errs, messages(p.Child("supplementalGroups").Index(i), g, validation.IsValidGroupID(g))...)
	}
	for i, s := range sc.Sysctls {
		if s.Name == "" {
			errs = append(errs, field.Required(p.Child("sysctls").Index(i).Child("name"), ""))
		}
	}
	return errs
}

func containerSecurityContext(sc *corev1.SecurityContext, p *field.Path) field.ErrorList {
	if sc == nil {
		return nil
	}
	var errs field.ErrorList
	if sc.RunAsUser != nil {
		errs = append(errs, messages(p.Child("runAsUser"), *sc.RunAsUser, validation.IsValidUserID(*sc.RunAsUser))...)
	}
	if sc.RunAsGroup != nil {
		errs = append(errs, messages(p.Child("runAsGroup"), *sc.RunAsGroup, validation.IsValidGroupID(*sc.RunAsGroup))...)
	}
	if sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation {
		if sc.Privileged != nil && *sc.Privileged {
			errs = append(errs, field.Invalid(p, sc, "cannot set `allowPrivilegeEscalation` to false and `privileged` to true"))
		}
		if sc.Capabilities != nil && slices.Contains(sc.Capabilities.Add, "CAP_SYS_ADMIN") {
			errs = append(errs, field.Invalid(p, sc, "cannot set `allowPrivilegeEscalation` to false and `capabilities.Add` CAP_SYS_ADMIN"))
		}
	}
	if sc.ProcMount != nil {
		supported := []corev1.ProcMountType{corev1.DefaultProcMount, corev1.UnmaskedProcMount}
		if !slices.Contains(supported, *sc.ProcMount) {
			errs = append(errs, field.NotSupported(p.Child("procMount"), *sc.ProcMount, supported))
		}
	}
	return errs
}

func dns(spec *corev1.PodSpec, fldPath *field.Path) field.ErrorList {
	var errs field.ErrorList
	switch spec.DNSPolicy {
	case corev1.DNSClusterFirstWithHostNet, corev1.DNSClusterFirst, corev1.DNSDefault, corev1.DNSNone:
	case "":
		errs = append(errs, field.Required(fldPath.Child("dnsPolicy"), ""))
	default:
		errs = append(errs, field.NotSupported(fldPath.Child("dnsPolicy"), spec.DNSPolicy, supportedDNSPolicies))
	}
	cp := fldPath.Child("dnsConfig")
	cfg := spec.DNSConfig
	if spec.DNSPolicy == corev1.DNSNone {
		if cfg == nil {
			return append(errs, field.Required(cp, "must provide `dnsConfig` when `dnsPolicy` is None"))
		}
		if len(cfg.Nameservers) == 0 {
			errs = append(errs, field.Required(cp.Child("nameservers"), "must provide at least one DNS nameserver when `dnsPolicy` is None"))
		}
	}
	if cfg == nil {
		return errs
	}
	const maxNameservers, maxSearches = 3, 32
	if len(cfg.Nameservers) > maxNameservers {
		errs = append(errs, field.Invalid(cp.Child("nameservers"), cfg.Nameservers, fmt.Sprintf("must not have more than %d nameservers", maxNameservers)))
	}
	for i, ns := range cfg.Nameservers {
		errs = append(errs, ip(ns, cp.Child("nameservers").Index(i))...)
	}
	if len(cfg.Searches) > maxSearches {
		errs = append(errs, field.Invalid(cp.Child("searches"), cfg.Searches, fmt.Sprintf("must not have more than %d search paths", maxSearches)))
	}
	for i, s := range cfg.Searches {
		if s == "." {
			continue
		}
		errs = append(errs, dnsSubdomain(strings.TrimSuffix(s, "."), cp.Child("searches").Index(i))...)
	}
	for i, o := range cfg.Options {
		if o.Name == "" {
			errs = append(errs, field.Required(cp.Child("options").Index(i).Child("name"), "must not be empty"))
		}
	}
	return errs
}

func hostAliases(aliases []corev1.HostAlias, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	for i, a := range aliases {
		ap := p.Index(i)
		errs = append(errs, ip(a.IP, ap.Child("ip"))...)
		for j, h := range a.Hostnames {
			errs = append(errs, dnsSubdomain(h, ap.Child("hostnames").Index(j))...)
		}
	}
	return errs
}

func schedulingGates(gates []corev1.PodSchedulingGate, p *field.Path) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, g := range gates {
		np := p.Index(i).Child("name")
		errs = append(errs, qualifiedName(g.Name, np)...)
		if seen[g.Name] {
			errs = append(errs, field.Duplicate(np, g.Name))
		}
		seen[g.Name] = true
	}
	return errs
}

// sortedKeys returns the keys of a map in order, so that errors come out in
// a stable order.
func sortedKeys[K ~string, V any](m map[K]V) []K {
	return slices.Sorted(maps.Keys(m))
}
