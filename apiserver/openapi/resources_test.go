package openapi_test

import (
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantryhq/gantry/apiserver/openapi"
)

var (
	allVerbs = []string{"get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"}
	rwVerbs  = []string{"get", "update", "patch"}
)

func resource(group, version, kind, plural string, namespaced bool, obj, list runtime.Object, subs ...openapi.Subresource) openapi.Resource {
	return openapi.Resource{
		GroupVersionKind: schema.GroupVersionKind{Group: group, Version: version, Kind: kind},
		Plural:           plural,
		Namespaced:       namespaced,
		Object:           obj,
		List:             list,
		Verbs:            allVerbs,
		Subresources:     subs,
	}
}

func status(obj runtime.Object) openapi.Subresource {
	return openapi.Subresource{Name: "status", Object: obj, Verbs: rwVerbs}
}

func scale() openapi.Subresource {
	return openapi.Subresource{Name: "scale", Object: &autoscalingv1.Scale{}, Verbs: rwVerbs}
}

// testResources are the 24 resources a small cluster serves.
func testResources() []openapi.Resource {
	return []openapi.Resource{
		resource("", "v1", "Pod", "pods", true, &corev1.Pod{}, &corev1.PodList{},
			status(&corev1.Pod{}),
			openapi.Subresource{Name: "binding", Object: &corev1.Binding{}, Verbs: []string{"create"}},
			openapi.Subresource{Name: "eviction", Object: &policyv1.Eviction{}, Verbs: []string{"create"}},
			openapi.Subresource{Name: "log", Verbs: []string{"get"}, Parameters: []openapi.Parameter{
				{Name: "container", Description: "The container for which to stream logs."},
				{Name: "follow", Type: "boolean", Description: "Follow the log stream of the pod."},
				{Name: "tailLines", Type: "integer", Description: "The number of lines from the end of the logs to show."},
			}},
		),
		resource("", "v1", "Service", "services", true, &corev1.Service{}, &corev1.ServiceList{}, status(&corev1.Service{})),
		resource("", "v1", "Node", "nodes", false, &corev1.Node{}, &corev1.NodeList{}, status(&corev1.Node{})),
		resource("", "v1", "Namespace", "namespaces", false, &corev1.Namespace{}, &corev1.NamespaceList{}, status(&corev1.Namespace{})),
		resource("", "v1", "ConfigMap", "configmaps", true, &corev1.ConfigMap{}, &corev1.ConfigMapList{}),
		resource("", "v1", "Secret", "secrets", true, &corev1.Secret{}, &corev1.SecretList{}),
		resource("", "v1", "ServiceAccount", "serviceaccounts", true, &corev1.ServiceAccount{}, &corev1.ServiceAccountList{}),
		resource("", "v1", "Endpoints", "endpoints", true, &corev1.Endpoints{}, &corev1.EndpointsList{}),
		resource("", "v1", "Event", "events", true, &corev1.Event{}, &corev1.EventList{}),
		resource("", "v1", "ReplicationController", "replicationcontrollers", true, &corev1.ReplicationController{}, &corev1.ReplicationControllerList{},
			status(&corev1.ReplicationController{}), scale()),
		resource("", "v1", "PersistentVolume", "persistentvolumes", false, &corev1.PersistentVolume{}, &corev1.PersistentVolumeList{}),
		resource("", "v1", "PersistentVolumeClaim", "persistentvolumeclaims", true, &corev1.PersistentVolumeClaim{}, &corev1.PersistentVolumeClaimList{}),
		resource("apps", "v1", "Deployment", "deployments", true, &appsv1.Deployment{}, &appsv1.DeploymentList{}, status(&appsv1.Deployment{}), scale()),
		resource("apps", "v1", "ReplicaSet", "replicasets", true, &appsv1.ReplicaSet{}, &appsv1.ReplicaSetList{}, status(&appsv1.ReplicaSet{}), scale()),
		resource("apps", "v1", "DaemonSet", "daemonsets", true, &appsv1.DaemonSet{}, &appsv1.DaemonSetList{}, status(&appsv1.DaemonSet{})),
		resource("apps", "v1", "StatefulSet", "statefulsets", true, &appsv1.StatefulSet{}, &appsv1.StatefulSetList{}, status(&appsv1.StatefulSet{}), scale()),
		resource("batch", "v1", "Job", "jobs", true, &batchv1.Job{}, &batchv1.JobList{}, status(&batchv1.Job{})),
		resource("batch", "v1", "CronJob", "cronjobs", true, &batchv1.CronJob{}, &batchv1.CronJobList{}, status(&batchv1.CronJob{})),
		resource("coordination.k8s.io", "v1", "Lease", "leases", true, &coordinationv1.Lease{}, &coordinationv1.LeaseList{}),
		resource("discovery.k8s.io", "v1", "EndpointSlice", "endpointslices", true, &discoveryv1.EndpointSlice{}, &discoveryv1.EndpointSliceList{}),
		resource("policy", "v1", "PodDisruptionBudget", "poddisruptionbudgets", true, &policyv1.PodDisruptionBudget{}, &policyv1.PodDisruptionBudgetList{},
			status(&policyv1.PodDisruptionBudget{})),
		resource("rbac.authorization.k8s.io", "v1", "Role", "roles", true, &rbacv1.Role{}, &rbacv1.RoleList{}),
		resource("rbac.authorization.k8s.io", "v1", "ClusterRole", "clusterroles", false, &rbacv1.ClusterRole{}, &rbacv1.ClusterRoleList{}),
		resource("rbac.authorization.k8s.io", "v1", "RoleBinding", "rolebindings", true, &rbacv1.RoleBinding{}, &rbacv1.RoleBindingList{}),
	}
}
