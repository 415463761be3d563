package defaults

import (
	corev1 "k8s.io/api/core/v1"
)

// Namespace defaults a namespace: the label kubernetes.io/metadata.name
// carries the namespace's name (so that selectors can pick namespaces by
// name), and status.phase is Active. spec.finalizers ["kubernetes"] is not a
// default: the API server sets it when it creates the namespace.
func Namespace(ns *corev1.Namespace) {
	if ns.Name != "" {
		if ns.Labels == nil {
			ns.Labels = map[string]string{}
		}
		ns.Labels[corev1.LabelMetadataName] = ns.Name
	}
	if ns.Status.Phase == "" {
		ns.Status.Phase = corev1.NamespaceActive
	}
}

// Node defaults a node: status.allocatable is the capacity when unset,
// quantities are rounded to milli precision, and spec.podCIDR mirrors
// spec.podCIDRs[0] (or fills podCIDRs from a lone podCIDR).
func Node(node *corev1.Node) {
	if len(node.Spec.PodCIDRs) > 0 {
		node.Spec.PodCIDR = node.Spec.PodCIDRs[0]
	} else if node.Spec.PodCIDR != "" {
		node.Spec.PodCIDRs = []string{node.Spec.PodCIDR}
	}
	if node.Status.Allocatable == nil && node.Status.Capacity != nil {
		node.Status.Allocatable = node.Status.Capacity.DeepCopy()
	}
	ResourceList(node.Status.Capacity)
	ResourceList(node.Status.Allocatable)
}

// Service defaults a service: type ClusterIP, sessionAffinity None (with a
// 10800 second timeout for ClientIP), port protocol TCP, targetPort equal to
// port when unset, internalTrafficPolicy Cluster (except for ExternalName),
// externalTrafficPolicy Cluster for NodePort and LoadBalancer services, and
// allocateLoadBalancerNodePorts true for LoadBalancer services. A clusterIP
// without clusterIPs fills clusterIPs. IPs, IP families and node ports are
// allocated by the API server, not here.
func Service(svc *corev1.Service) {
	spec := &svc.Spec
	if spec.Type == "" {
		spec.Type = corev1.ServiceTypeClusterIP
	}
	if spec.SessionAffinity == "" {
		spec.SessionAffinity = corev1.ServiceAffinityNone
	}
	if spec.SessionAffinity == corev1.ServiceAffinityNone {
		spec.SessionAffinityConfig = nil
	}
	if spec.SessionAffinity == corev1.ServiceAffinityClientIP {
		if spec.SessionAffinityConfig == nil {
			spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{}
		}
		if spec.SessionAffinityConfig.ClientIP == nil {
			spec.SessionAffinityConfig.ClientIP = &corev1.ClientIPConfig{}
		}
		if spec.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil {
			spec.SessionAffinityConfig.ClientIP.TimeoutSeconds = ptrTo(corev1.DefaultClientIPServiceAffinitySeconds)
		}
	}
	for i := range spec.Ports {
		p := &spec.Ports[i]
		if p.Protocol == "" {
			p.Protocol = corev1.ProtocolTCP
		}
		p.TargetPort = targetPortOrPort(p)
	}
	if (spec.Type == corev1.ServiceTypeNodePort || spec.Type == corev1.ServiceTypeLoadBalancer) &&
		spec.ExternalTrafficPolicy == "" {
		spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyCluster
	}
	if spec.Type != corev1.ServiceTypeExternalName && spec.InternalTrafficPolicy == nil {
		spec.InternalTrafficPolicy = ptrTo(corev1.ServiceInternalTrafficPolicyCluster)
	}
	if spec.Type == corev1.ServiceTypeLoadBalancer && spec.AllocateLoadBalancerNodePorts == nil {
		spec.AllocateLoadBalancerNodePorts = ptrTo(true)
	}
	if spec.ClusterIP != "" && len(spec.ClusterIPs) == 0 {
		spec.ClusterIPs = []string{spec.ClusterIP}
	}
}

// Endpoints defaults endpoints: every port's protocol is TCP when unset.
func Endpoints(ep *corev1.Endpoints) {
	for i := range ep.Subsets {
		for j := range ep.Subsets[i].Ports {
			if ep.Subsets[i].Ports[j].Protocol == "" {
				ep.Subsets[i].Ports[j].Protocol = corev1.ProtocolTCP
			}
		}
	}
}

// Secret defaults a secret: type Opaque, and stringData merged into data
// (a key in both takes stringData's value), as the API's conversion does:
// stringData is write-only and never stored.
func Secret(s *corev1.Secret) {
	if s.Type == "" {
		s.Type = corev1.SecretTypeOpaque
	}
	if len(s.StringData) > 0 {
		if s.Data == nil {
			s.Data = make(map[string][]byte, len(s.StringData))
		}
		for k, v := range s.StringData {
			s.Data[k] = []byte(v)
		}
	}
	s.StringData = nil
}

// PersistentVolumeClaim defaults a claim: volumeMode Filesystem and
// status.phase Pending.
func PersistentVolumeClaim(pvc *corev1.PersistentVolumeClaim) {
	persistentVolumeClaimSpec(&pvc.Spec)
	if pvc.Status.Phase == "" {
		pvc.Status.Phase = corev1.ClaimPending
	}
}

func persistentVolumeClaimSpec(spec *corev1.PersistentVolumeClaimSpec) {
	if spec.VolumeMode == nil {
		spec.VolumeMode = ptrTo(corev1.PersistentVolumeFilesystem)
	}
	ResourceList(spec.Resources.Limits)
	ResourceList(spec.Resources.Requests)
}

// ReplicationController defaults a replication controller: replicas 1, and
// when the template has labels, an empty selector and empty object labels
// are copied from them; the template's pod spec is defaulted.
func ReplicationController(rc *corev1.ReplicationController) {
	if t := rc.Spec.Template; t != nil {
		if len(t.Labels) > 0 {
			if len(rc.Spec.Selector) == 0 {
				rc.Spec.Selector = copyStringMap(t.Labels)
			}
			if len(rc.Labels) == 0 {
				rc.Labels = copyStringMap(t.Labels)
			}
		}
		PodTemplateSpec(t)
	}
	if rc.Spec.Replicas == nil {
		rc.Spec.Replicas = ptrTo[int32](1)
	}
}
