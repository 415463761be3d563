package alwayspullimages

import (
	"context"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantryhq/gantry/apiserver"
)

// Plugin is the AlwaysPullImages admission plugin; see the package
// documentation. The zero value is ready to use and safe for concurrent
// use.
type Plugin struct{}

var (
	_ apiserver.MutatingAdmission   = Plugin{}
	_ apiserver.ValidatingAdmission = Plugin{}
)

// New returns the plugin.
func New() Plugin { return Plugin{} }

// pod returns the pod of a request the plugin handles, a create or update
// of a pod's spec, and which of its containers it applies to: on an update
// only those with a new image (a pod's pull policies cannot change
// afterwards, and those of images already pulled do not matter).
func pod(req *apiserver.AdmissionRequest) (*corev1.Pod, func(kind, name, image string) bool, bool) {
	if (req.Operation != apiserver.Create && req.Operation != apiserver.Update) || req.Subresource != "" ||
		req.Resource.GroupResource() != corev1.Resource("pods") {
		return nil, nil, false
	}
	p, ok := req.Object.(*corev1.Pod)
	if !ok {
		return nil, nil, false
	}
	old, ok := req.OldObject.(*corev1.Pod)
	if req.Operation == apiserver.Create || !ok {
		return p, func(string, string, string) bool { return true }, true
	}
	images := map[string]string{}
	for _, c := range old.Spec.InitContainers {
		images["init/"+c.Name] = c.Image
	}
	for _, c := range old.Spec.Containers {
		images["main/"+c.Name] = c.Image
	}
	for _, c := range old.Spec.EphemeralContainers {
		images["ephemeral/"+c.Name] = c.Image
	}
	return p, func(kind, name, image string) bool {
		prev, ok := images[kind+"/"+name]
		return !ok || prev != image
	}, true
}

// Admit sets imagePullPolicy Always on every container, init container
// and ephemeral container of a pod being created, and on those whose
// image changes in an update.
func (Plugin) Admit(_ context.Context, req *apiserver.AdmissionRequest) error {
	p, applies, ok := pod(req)
	if !ok {
		return nil
	}
	for i, c := range p.Spec.InitContainers {
		if applies("init", c.Name, c.Image) {
			p.Spec.InitContainers[i].ImagePullPolicy = corev1.PullAlways
		}
	}
	for i, c := range p.Spec.Containers {
		if applies("main", c.Name, c.Image) {
			p.Spec.Containers[i].ImagePullPolicy = corev1.PullAlways
		}
	}
	for i, c := range p.Spec.EphemeralContainers {
		if applies("ephemeral", c.Name, c.Image) {
			p.Spec.EphemeralContainers[i].ImagePullPolicy = corev1.PullAlways
		}
	}
	return nil
}

// Validate denies a pod with a container whose imagePullPolicy is not
// Always, for when a request reaches validation without Admit (another
// mutating plugin after it changed the policy back, say).
func (Plugin) Validate(_ context.Context, req *apiserver.AdmissionRequest) error {
	p, applies, ok := pod(req)
	if !ok {
		return nil
	}
	var bad []string
	kinds := map[string]string{"spec.initContainers": "init", "spec.containers": "main", "spec.ephemeralContainers": "ephemeral"}
	check := func(path, name, image string, policy corev1.PullPolicy) {
		if policy != corev1.PullAlways && applies(kinds[path], name, image) {
			bad = append(bad, fmt.Sprintf("%s[%s].imagePullPolicy is %q", path, name, policy))
		}
	}
	for _, c := range p.Spec.InitContainers {
		check("spec.initContainers", c.Name, c.Image, c.ImagePullPolicy)
	}
	for _, c := range p.Spec.Containers {
		check("spec.containers", c.Name, c.Image, c.ImagePullPolicy)
	}
	for _, c := range p.Spec.EphemeralContainers {
		check("spec.ephemeralContainers", c.Name, c.Image, c.ImagePullPolicy)
	}
	if len(bad) > 0 {
		return fmt.Errorf("imagePullPolicy must be Always (AlwaysPullImages): %s", strings.Join(bad, ", "))
	}
	return nil
}
