package apiserver

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/duration"

	"github.com/gantryhq/gantry/apiserver/defaults"
	"github.com/gantryhq/gantry/apiserver/validation"
)

// DefaultEventTTL is how long events are kept (kube-apiserver --event-ttl).
const DefaultEventTTL = time.Hour

// DefaultResources returns the built-in resources: core/v1, apps/v1,
// batch/v1, coordination.k8s.io/v1, discovery.k8s.io/v1,
// rbac.authorization.k8s.io/v1, scheduling.k8s.io/v1 PriorityClasses, the
// access reviews of authorization.k8s.io/v1 and authentication.k8s.io/v1
// SelfSubjectReview and TokenReview. Each call returns new values the
// caller may change.
func DefaultResources() []Resource {
	rs := []Resource{
		namespaceResource(),
		podResource(),
		nodeResource(),
		serviceResource(),
		{
			GroupVersionKind: corev1.SchemeGroupVersion.WithKind("Endpoints"),
			Plural:           "endpoints", ShortNames: []string{"ep"}, Namespaced: true,
			New:     func() runtime.Object { return &corev1.Endpoints{} },
			NewList: func() runtime.Object { return &corev1.EndpointsList{} },
			Columns: []metav1.TableColumnDefinition{{Name: "Endpoints", Type: "string", Description: corev1.Endpoints{}.SwaggerDoc()["subsets"]}},
			Cells:   func(obj runtime.Object) []any { return []any{formatEndpoints(obj.(*corev1.Endpoints))} },
		},
		eventResource(),
		componentStatusResource(),
		{
			GroupVersionKind: corev1.SchemeGroupVersion.WithKind("ConfigMap"),
			Plural:           "configmaps", ShortNames: []string{"cm"}, Namespaced: true,
			New:     func() runtime.Object { return &corev1.ConfigMap{} },
			NewList: func() runtime.Object { return &corev1.ConfigMapList{} },
			Columns: []metav1.TableColumnDefinition{{Name: "Data", Type: "integer", Description: corev1.ConfigMap{}.SwaggerDoc()["data"]}},
			Cells: func(obj runtime.Object) []any {
				cm := obj.(*corev1.ConfigMap)
				return []any{int64(len(cm.Data) + len(cm.BinaryData))}
			},
		},
		{
			GroupVersionKind: corev1.SchemeGroupVersion.WithKind("Secret"),
			Plural:           "secrets", Namespaced: true,
			New:     func() runtime.Object { return &corev1.Secret{} },
			NewList: func() runtime.Object { return &corev1.SecretList{} },
			Fields:  func(obj runtime.Object) fields.Set { return fields.Set{"type": string(obj.(*corev1.Secret).Type)} },
			Columns: []metav1.TableColumnDefinition{
				{Name: "Type", Type: "string", Description: corev1.Secret{}.SwaggerDoc()["type"]},
				{Name: "Data", Type: "integer", Description: corev1.Secret{}.SwaggerDoc()["data"]},
			},
			Cells: func(obj runtime.Object) []any {
				s := obj.(*corev1.Secret)
				return []any{string(s.Type), int64(len(s.Data) + len(s.StringData))}
			},
		},
		{
			GroupVersionKind: corev1.SchemeGroupVersion.WithKind("ServiceAccount"),
			Plural:           "serviceaccounts", ShortNames: []string{"sa"}, Namespaced: true,
			New:     func() runtime.Object { return &corev1.ServiceAccount{} },
			NewList: func() runtime.Object { return &corev1.ServiceAccountList{} },
			Columns: []metav1.TableColumnDefinition{{Name: "Secrets", Type: "string", Description: corev1.ServiceAccount{}.SwaggerDoc()["secrets"]}},
			Cells:   func(obj runtime.Object) []any { return []any{int64(len(obj.(*corev1.ServiceAccount).Secrets))} },
		},
		{
			GroupVersionKind: corev1.SchemeGroupVersion.WithKind("ReplicationController"),
			Plural:           "replicationcontrollers", ShortNames: []string{"rc"}, Categories: []string{"all"}, Namespaced: true,
			New:        func() runtime.Object { return &corev1.ReplicationController{} },
			NewList:    func() runtime.Object { return &corev1.ReplicationControllerList{} },
			Status:     true,
			Generation: true,
			Scale: &ScaleSubresource{
				SpecReplicas: func(obj runtime.Object) *int32 {
					rc := obj.(*corev1.ReplicationController)
					return ensureReplicas(&rc.Spec.Replicas)
				},
				StatusReplicas: func(obj runtime.Object) int32 { return obj.(*corev1.ReplicationController).Status.Replicas },
				Selector: func(obj runtime.Object) string {
					return labels.SelectorFromSet(obj.(*corev1.ReplicationController).Spec.Selector).String()
				},
			},
			Fields: func(obj runtime.Object) fields.Set {
				return fields.Set{"status.replicas": fmt.Sprint(obj.(*corev1.ReplicationController).Status.Replicas)}
			},
			Columns: replicaColumns,
			Cells: func(obj runtime.Object) []any {
				rc := obj.(*corev1.ReplicationController)
				return append([]any{int64(valueOr32(rc.Spec.Replicas)), int64(rc.Status.Replicas), int64(rc.Status.ReadyReplicas)},
					podTemplateCells(rc.Spec.Template, labels.SelectorFromSet(rc.Spec.Selector).String())...)
			},
		},
		deploymentResource(),
		{
			GroupVersionKind: appsv1.SchemeGroupVersion.WithKind("ReplicaSet"),
			Plural:           "replicasets", ShortNames: []string{"rs"}, Categories: []string{"all"}, Namespaced: true,
			New:        func() runtime.Object { return &appsv1.ReplicaSet{} },
			NewList:    func() runtime.Object { return &appsv1.ReplicaSetList{} },
			Status:     true,
			Generation: true,
			Scale: &ScaleSubresource{
				SpecReplicas:   func(obj runtime.Object) *int32 { return ensureReplicas(&obj.(*appsv1.ReplicaSet).Spec.Replicas) },
				StatusReplicas: func(obj runtime.Object) int32 { return obj.(*appsv1.ReplicaSet).Status.Replicas },
				Selector:       func(obj runtime.Object) string { return selectorString(obj.(*appsv1.ReplicaSet).Spec.Selector) },
			},
			Fields: func(obj runtime.Object) fields.Set {
				return fields.Set{"status.replicas": fmt.Sprint(obj.(*appsv1.ReplicaSet).Status.Replicas)}
			},
			Columns: replicaColumns,
			Cells: func(obj runtime.Object) []any {
				rs := obj.(*appsv1.ReplicaSet)
				return append([]any{int64(valueOr32(rs.Spec.Replicas)), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas)},
					podTemplateCells(&rs.Spec.Template, selectorString(rs.Spec.Selector))...)
			},
		},
		{
			GroupVersionKind: appsv1.SchemeGroupVersion.WithKind("DaemonSet"),
			Plural:           "daemonsets", ShortNames: []string{"ds"}, Categories: []string{"all"}, Namespaced: true,
			New:        func() runtime.Object { return &appsv1.DaemonSet{} },
			NewList:    func() runtime.Object { return &appsv1.DaemonSetList{} },
			Status:     true,
			Generation: true,
			Columns: append([]metav1.TableColumnDefinition{
				{Name: "Desired", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["desiredNumberScheduled"]},
				{Name: "Current", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["currentNumberScheduled"]},
				{Name: "Ready", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["numberReady"]},
				{Name: "Up-to-date", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["updatedNumberScheduled"]},
				{Name: "Available", Type: "integer", Description: appsv1.DaemonSetStatus{}.SwaggerDoc()["numberAvailable"]},
				{Name: "Node Selector", Type: "string", Description: corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]},
			}, templateColumns...),
			Cells: func(obj runtime.Object) []any {
				ds := obj.(*appsv1.DaemonSet)
				st := ds.Status
				return append([]any{int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
					int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable), joinOr(sortedPairs(ds.Spec.Template.Spec.NodeSelector), "<none>")},
					podTemplateCells(&ds.Spec.Template, selectorString(ds.Spec.Selector))...)
			},
		},
		{
			GroupVersionKind: appsv1.SchemeGroupVersion.WithKind("StatefulSet"),
			Plural:           "statefulsets", ShortNames: []string{"sts"}, Categories: []string{"all"}, Namespaced: true,
			New:        func() runtime.Object { return &appsv1.StatefulSet{} },
			NewList:    func() runtime.Object { return &appsv1.StatefulSetList{} },
			Status:     true,
			Generation: true,
			Scale: &ScaleSubresource{
				SpecReplicas:   func(obj runtime.Object) *int32 { return ensureReplicas(&obj.(*appsv1.StatefulSet).Spec.Replicas) },
				StatusReplicas: func(obj runtime.Object) int32 { return obj.(*appsv1.StatefulSet).Status.Replicas },
				Selector:       func(obj runtime.Object) string { return selectorString(obj.(*appsv1.StatefulSet).Spec.Selector) },
			},
			Columns: append([]metav1.TableColumnDefinition{
				{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
			}, templateColumns[:2]...),
			Cells: func(obj runtime.Object) []any {
				ss := obj.(*appsv1.StatefulSet)
				return append([]any{fmt.Sprintf("%d/%d", ss.Status.ReadyReplicas, valueOr32(ss.Spec.Replicas))},
					podTemplateCells(&ss.Spec.Template, "")[:2]...)
			},
		},
		controllerRevisionResource(),
		jobResource(),
		cronJobResource(),
		{
			GroupVersionKind: coordinationv1.SchemeGroupVersion.WithKind("Lease"),
			Plural:           "leases", Namespaced: true,
			New:     func() runtime.Object { return &coordinationv1.Lease{} },
			NewList: func() runtime.Object { return &coordinationv1.LeaseList{} },
			Columns: []metav1.TableColumnDefinition{{Name: "Holder", Type: "string", Description: coordinationv1.LeaseSpec{}.SwaggerDoc()["holderIdentity"]}},
			Cells: func(obj runtime.Object) []any {
				if h := obj.(*coordinationv1.Lease).Spec.HolderIdentity; h != nil {
					return []any{*h}
				}
				return []any{""}
			},
		},
		{
			GroupVersionKind: discoveryv1.SchemeGroupVersion.WithKind("EndpointSlice"),
			Plural:           "endpointslices", Namespaced: true,
			New:     func() runtime.Object { return &discoveryv1.EndpointSlice{} },
			NewList: func() runtime.Object { return &discoveryv1.EndpointSliceList{} },
			Columns: []metav1.TableColumnDefinition{
				{Name: "AddressType", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["addressType"]},
				{Name: "Ports", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["ports"]},
				{Name: "Endpoints", Type: "string", Description: discoveryv1.EndpointSlice{}.SwaggerDoc()["endpoints"]},
			},
			Cells: func(obj runtime.Object) []any {
				es := obj.(*discoveryv1.EndpointSlice)
				var ports, addrs []string
				for _, p := range es.Ports {
					if p.Port != nil {
						ports = append(ports, fmt.Sprint(*p.Port))
					}
				}
				for _, e := range es.Endpoints {
					addrs = append(addrs, e.Addresses...)
				}
				return []any{string(es.AddressType), joinOr(ports, "<unset>"), truncateList(addrs, 3)}
			},
		},
	}
	for i := range rs {
		rs[i].Default = defaults.Apply
		rs[i].Validate = validation.Validate
		rs[i].ValidateUpdate = validation.ValidateUpdate
		rs[i].ValidateStatusUpdate = validation.ValidateStatusUpdate
	}
	rs = append(rs, rbacResources()...)
	rs = append(rs, policyResources()...)
	rs = append(rs, schedulingResources()...)
	return append(rs, authorizationResources()...)
}

var replicaColumns = append([]metav1.TableColumnDefinition{
	{Name: "Desired", Type: "integer", Description: "Number of desired pods."},
	{Name: "Current", Type: "integer", Description: "Number of actual pods."},
	{Name: "Ready", Type: "integer", Description: "Number of pods ready."},
}, templateColumns...)

var templateColumns = []metav1.TableColumnDefinition{
	{Name: "Containers", Type: "string", Priority: 1, Description: "Names of each container in the template."},
	{Name: "Images", Type: "string", Priority: 1, Description: "Images referenced by each container in the template."},
	{Name: "Selector", Type: "string", Priority: 1, Description: "Label selector of the pods."},
}

func podTemplateCells(t *corev1.PodTemplateSpec, selector string) []any {
	var names, images []string
	if t != nil {
		for _, c := range t.Spec.Containers {
			names = append(names, c.Name)
			images = append(images, c.Image)
		}
	}
	return []any{strings.Join(names, ","), strings.Join(images, ","), joinOr([]string{selector}, "<none>")}
}

func selectorString(sel *metav1.LabelSelector) string {
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil || s.Empty() {
		return "<none>"
	}
	return s.String()
}

func ensureReplicas(p **int32) *int32 {
	if *p == nil {
		one := int32(1)
		*p = &one
	}
	return *p
}

func valueOr32(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

func sortedPairs(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

func truncateList(items []string, max int) string {
	switch {
	case len(items) == 0:
		return "<none>"
	case len(items) > max:
		return strings.Join(items[:max], ",") + fmt.Sprintf(" + %d more...", len(items)-max)
	}
	return strings.Join(items, ",")
}

func formatEndpoints(ep *corev1.Endpoints) string {
	var out []string
	for _, ss := range ep.Subsets {
		for _, a := range ss.Addresses {
			if len(ss.Ports) == 0 {
				out = append(out, a.IP)
			}
			for _, p := range ss.Ports {
				out = append(out, fmt.Sprintf("%s:%d", a.IP, p.Port))
			}
		}
	}
	return truncateList(out, 3)
}

func nodeResource() Resource {
	return Resource{
		GroupVersionKind: corev1.SchemeGroupVersion.WithKind("Node"),
		Plural:           "nodes", ShortNames: []string{"no"},
		New:     func() runtime.Object { return &corev1.Node{} },
		NewList: func() runtime.Object { return &corev1.NodeList{} },
		Status:  true,
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"spec.unschedulable": fmt.Sprint(obj.(*corev1.Node).Spec.Unschedulable)}
		},
		Columns: []metav1.TableColumnDefinition{
			{Name: "Status", Type: "string", Description: "The status of the node"},
			{Name: "Roles", Type: "string", Description: "The roles of the node"},
			{Name: "Version", Type: "string", Description: corev1.NodeSystemInfo{}.SwaggerDoc()["kubeletVersion"]},
			{Name: "Internal-IP", Type: "string", Priority: 1, Description: corev1.NodeStatus{}.SwaggerDoc()["addresses"]},
			{Name: "External-IP", Type: "string", Priority: 1, Description: corev1.NodeStatus{}.SwaggerDoc()["addresses"]},
			{Name: "OS-Image", Type: "string", Priority: 1, Description: corev1.NodeSystemInfo{}.SwaggerDoc()["osImage"]},
			{Name: "Kernel-Version", Type: "string", Priority: 1, Description: corev1.NodeSystemInfo{}.SwaggerDoc()["kernelVersion"]},
			{Name: "Container-Runtime", Type: "string", Priority: 1, Description: corev1.NodeSystemInfo{}.SwaggerDoc()["containerRuntimeVersion"]},
		},
		Cells: func(obj runtime.Object) []any {
			n := obj.(*corev1.Node)
			status := "Unknown"
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady {
					if c.Status == corev1.ConditionTrue {
						status = "Ready"
					} else {
						status = "NotReady"
					}
				}
			}
			if n.Spec.Unschedulable {
				status += ",SchedulingDisabled"
			}
			var roles []string
			for k := range n.Labels {
				if r, ok := strings.CutPrefix(k, "node-role.kubernetes.io/"); ok && r != "" {
					roles = append(roles, r)
				}
			}
			sort.Strings(roles)
			internal, external := "<none>", "<none>"
			for _, a := range n.Status.Addresses {
				switch a.Type {
				case corev1.NodeInternalIP:
					internal = a.Address
				case corev1.NodeExternalIP:
					external = a.Address
				}
			}
			info := n.Status.NodeInfo
			return []any{status, joinOr(roles, "<none>"), info.KubeletVersion, internal, external, info.OSImage, info.KernelVersion, info.ContainerRuntimeVersion}
		},
	}
}

func serviceResource() Resource {
	r := Resource{
		GroupVersionKind: corev1.SchemeGroupVersion.WithKind("Service"),
		Plural:           "services", ShortNames: []string{"svc"}, Categories: []string{"all"}, Namespaced: true,
		New:     func() runtime.Object { return &corev1.Service{} },
		NewList: func() runtime.Object { return &corev1.ServiceList{} },
		Status:  true,
		Fields: func(obj runtime.Object) fields.Set {
			svc := obj.(*corev1.Service)
			return fields.Set{"spec.clusterIP": svc.Spec.ClusterIP, "spec.type": string(svc.Spec.Type)}
		},
		Columns: []metav1.TableColumnDefinition{
			{Name: "Type", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["type"]},
			{Name: "Cluster-IP", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["clusterIP"]},
			{Name: "External-IP", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["externalIPs"]},
			{Name: "Port(s)", Type: "string", Description: corev1.ServiceSpec{}.SwaggerDoc()["ports"]},
			{Name: "Selector", Type: "string", Priority: 1, Description: corev1.ServiceSpec{}.SwaggerDoc()["selector"]},
		},
		Cells: func(obj runtime.Object) []any {
			svc := obj.(*corev1.Service)
			clusterIP := svc.Spec.ClusterIP
			if clusterIP == "" {
				clusterIP = "<none>"
			}
			external := "<none>"
			switch {
			case len(svc.Spec.ExternalIPs) > 0:
				external = strings.Join(svc.Spec.ExternalIPs, ",")
			case svc.Spec.Type == corev1.ServiceTypeExternalName:
				external = svc.Spec.ExternalName
			case svc.Spec.Type == corev1.ServiceTypeLoadBalancer:
				external = "<pending>"
				var ips []string
				for _, in := range svc.Status.LoadBalancer.Ingress {
					ips = append(ips, in.IP+in.Hostname)
				}
				if len(ips) > 0 {
					external = strings.Join(ips, ",")
				}
			}
			var ports []string
			for _, p := range svc.Spec.Ports {
				s := fmt.Sprintf("%d/%s", p.Port, p.Protocol)
				if p.NodePort != 0 {
					s = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
				}
				ports = append(ports, s)
			}
			return []any{string(svc.Spec.Type), clusterIP, external, joinOr(ports, "<none>"), joinOr(sortedPairs(svc.Spec.Selector), "<none>")}
		},
	}
	r.PrepareForUpdate = keepAllocations
	serviceHooks(&r)
	return r
}

func eventResource() Resource {
	return Resource{
		GroupVersionKind: corev1.SchemeGroupVersion.WithKind("Event"),
		Plural:           "events", ShortNames: []string{"ev"}, Namespaced: true,
		New:     func() runtime.Object { return &corev1.Event{} },
		NewList: func() runtime.Object { return &corev1.EventList{} },
		TTL:     DefaultEventTTL,
		Fields: func(obj runtime.Object) fields.Set {
			e := obj.(*corev1.Event)
			return fields.Set{
				"involvedObject.kind":            e.InvolvedObject.Kind,
				"involvedObject.namespace":       e.InvolvedObject.Namespace,
				"involvedObject.name":            e.InvolvedObject.Name,
				"involvedObject.uid":             string(e.InvolvedObject.UID),
				"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
				"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
				"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
				"reason":                         e.Reason,
				"reportingComponent":             e.ReportingController,
				"source":                         e.Source.Component,
				"type":                           e.Type,
			}
		},
		Columns: []metav1.TableColumnDefinition{
			{Name: "Type", Type: "string", Description: corev1.Event{}.SwaggerDoc()["type"]},
			{Name: "Reason", Type: "string", Description: corev1.Event{}.SwaggerDoc()["reason"]},
			{Name: "Object", Type: "string", Description: corev1.Event{}.SwaggerDoc()["involvedObject"]},
			{Name: "Message", Type: "string", Description: corev1.Event{}.SwaggerDoc()["message"]},
		},
		Cells: func(obj runtime.Object) []any {
			e := obj.(*corev1.Event)
			return []any{e.Type, e.Reason, strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name, strings.TrimSpace(e.Message)}
		},
	}
}

func deploymentResource() Resource {
	return Resource{
		GroupVersionKind: appsv1.SchemeGroupVersion.WithKind("Deployment"),
		Plural:           "deployments", ShortNames: []string{"deploy"}, Categories: []string{"all"}, Namespaced: true,
		New:        func() runtime.Object { return &appsv1.Deployment{} },
		NewList:    func() runtime.Object { return &appsv1.DeploymentList{} },
		Status:     true,
		Generation: true,
		Scale: &ScaleSubresource{
			SpecReplicas:   func(obj runtime.Object) *int32 { return ensureReplicas(&obj.(*appsv1.Deployment).Spec.Replicas) },
			StatusReplicas: func(obj runtime.Object) int32 { return obj.(*appsv1.Deployment).Status.Replicas },
			Selector:       func(obj runtime.Object) string { return selectorString(obj.(*appsv1.Deployment).Spec.Selector) },
		},
		Columns: append([]metav1.TableColumnDefinition{
			{Name: "Ready", Type: "string", Description: "Number of the pod with ready state"},
			{Name: "Up-to-date", Type: "string", Description: appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]},
			{Name: "Available", Type: "string", Description: appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]},
		}, templateColumns...),
		Cells: func(obj runtime.Object) []any {
			d := obj.(*appsv1.Deployment)
			return append([]any{fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, valueOr32(d.Spec.Replicas)), int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas)},
				podTemplateCells(&d.Spec.Template, selectorString(d.Spec.Selector))...)
		},
	}
}

func jobResource() Resource {
	return Resource{
		GroupVersionKind: batchv1.SchemeGroupVersion.WithKind("Job"),
		Plural:           "jobs", Categories: []string{"all"}, Namespaced: true,
		New:        func() runtime.Object { return &batchv1.Job{} },
		NewList:    func() runtime.Object { return &batchv1.JobList{} },
		Status:     true,
		Generation: true,
		PrepareForCreate: func(_ context.Context, obj runtime.Object) {
			defaults.JobSelector(obj.(*batchv1.Job)) // needs the UID, set by now
		},
		Fields: func(obj runtime.Object) fields.Set {
			return fields.Set{"status.successful": fmt.Sprint(obj.(*batchv1.Job).Status.Succeeded)}
		},
		Columns: append([]metav1.TableColumnDefinition{
			{Name: "Status", Type: "string", Description: "Status of the job."},
			{Name: "Completions", Type: "string", Description: batchv1.JobStatus{}.SwaggerDoc()["succeeded"]},
			{Name: "Duration", Type: "string", Description: "Time required to complete the job."},
		}, templateColumns...),
		Cells: func(obj runtime.Object) []any {
			j := obj.(*batchv1.Job)
			status := "Running"
			for _, c := range j.Status.Conditions {
				if c.Status == corev1.ConditionTrue && (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed || c.Type == batchv1.JobSuspended) {
					status = string(c.Type)
				}
			}
			completions := fmt.Sprintf("%d/%d", j.Status.Succeeded, valueOr32(j.Spec.Completions))
			dur := ""
			if j.Status.StartTime != nil && j.Status.CompletionTime != nil {
				dur = duration.HumanDuration(j.Status.CompletionTime.Sub(j.Status.StartTime.Time))
			}
			return append([]any{status, completions, dur}, podTemplateCells(&j.Spec.Template, selectorString(j.Spec.Selector))...)
		},
	}
}

func cronJobResource() Resource {
	return Resource{
		GroupVersionKind: batchv1.SchemeGroupVersion.WithKind("CronJob"),
		Plural:           "cronjobs", ShortNames: []string{"cj"}, Categories: []string{"all"}, Namespaced: true,
		New:        func() runtime.Object { return &batchv1.CronJob{} },
		NewList:    func() runtime.Object { return &batchv1.CronJobList{} },
		Status:     true,
		Generation: true,
		Columns: append([]metav1.TableColumnDefinition{
			{Name: "Schedule", Type: "string", Description: batchv1.CronJobSpec{}.SwaggerDoc()["schedule"]},
			{Name: "Timezone", Type: "string", Description: batchv1.CronJobSpec{}.SwaggerDoc()["timeZone"]},
			{Name: "Suspend", Type: "boolean", Description: batchv1.CronJobSpec{}.SwaggerDoc()["suspend"]},
			{Name: "Active", Type: "integer", Description: batchv1.CronJobStatus{}.SwaggerDoc()["active"]},
			{Name: "Last Schedule", Type: "string", Description: batchv1.CronJobStatus{}.SwaggerDoc()["lastScheduleTime"]},
		}, templateColumns[0], templateColumns[1],
			metav1.TableColumnDefinition{Name: "Selector", Type: "string", Priority: 1, Description: batchv1.JobSpec{}.SwaggerDoc()["selector"]}),
		Cells: func(obj runtime.Object) []any {
			cj := obj.(*batchv1.CronJob)
			tz := "<none>"
			if cj.Spec.TimeZone != nil {
				tz = *cj.Spec.TimeZone
			}
			suspend := "<unset>"
			if cj.Spec.Suspend != nil {
				suspend = "False"
				if *cj.Spec.Suspend {
					suspend = "True"
				}
			}
			var last any = "<none>"
			if t := cj.Status.LastScheduleTime; t != nil {
				last = sinceCell(*t)
			}
			sel := "<none>"
			if cj.Spec.JobTemplate.Spec.Selector != nil {
				sel = selectorString(cj.Spec.JobTemplate.Spec.Selector)
			}
			return append([]any{cj.Spec.Schedule, tz, suspend, int64(len(cj.Status.Active)), last},
				podTemplateCells(&cj.Spec.JobTemplate.Spec.Template, sel)...)
		},
	}
}

// controllerRevisionResource is apps/v1 ControllerRevision: the immutable
// snapshots of a DaemonSet's or StatefulSet's pod template that kubectl
// rollout history lists and rollout undo applies back.
func controllerRevisionResource() Resource {
	return Resource{
		GroupVersionKind: appsv1.SchemeGroupVersion.WithKind("ControllerRevision"),
		Plural:           "controllerrevisions", Namespaced: true,
		New:     func() runtime.Object { return &appsv1.ControllerRevision{} },
		NewList: func() runtime.Object { return &appsv1.ControllerRevisionList{} },
		Columns: []metav1.TableColumnDefinition{
			{Name: "Controller", Type: "string", Description: "Controller of the object"},
			{Name: "Revision", Type: "integer", Description: appsv1.ControllerRevision{}.SwaggerDoc()["revision"]},
		},
		Cells: func(obj runtime.Object) []any {
			cr := obj.(*appsv1.ControllerRevision)
			return []any{revisionController(cr), cr.Revision}
		},
	}
}

// revisionController names a revision's controller as kubectl does
// ("daemonset.apps/web"), or "<none>".
func revisionController(cr *appsv1.ControllerRevision) string {
	ref := metav1.GetControllerOf(cr)
	if ref == nil {
		return "<none>"
	}
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return "<none>"
	}
	kind := strings.ToLower(ref.Kind)
	if gv.Group != "" {
		kind += "." + gv.Group
	}
	return kind + "/" + ref.Name
}
