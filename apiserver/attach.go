package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// attachVerbs are the verbs of pods/attach, as of pods/exec.
var attachVerbs = execVerbs

// handleAttach serves GET and POST pods/<name>/attach (kubectl attach
// [-it], kubectl run -it): it checks the pod and the container, then
// proxies the connection upgrade (WebSocket or SPDY, with the query
// unchanged) to /attach/<namespace>/<pod>/<container> on the agent of the
// pod's node, which attaches to the container's main process. It blocks
// until the session ends.
func (s *Server) handleAttach(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	obj, _, err := s.getObject(r.Context(), res, info.Namespace, info.Name)
	if err != nil {
		return err
	}
	pod := obj.(*corev1.Pod)
	container, err := podContainer(pod, r.URL.Query().Get("container"))
	if err != nil {
		return err
	}
	switch pod.Status.Phase {
	case corev1.PodRunning:
	case corev1.PodSucceeded, corev1.PodFailed:
		return apierrors.NewBadRequest(fmt.Sprintf("cannot attach a container in a completed pod; current phase is %s", pod.Status.Phase))
	default:
		if pod.Spec.NodeName != "" {
			return apierrors.NewBadRequest(fmt.Sprintf("pod %s is not running; current phase is %s", pod.Name, pod.Status.Phase))
		}
	}
	base, transport, err := s.nodeAgent(r.Context(), pod)
	if err != nil {
		return err
	}
	target := base.JoinPath("attach", pod.Namespace, pod.Name, container)
	if !strings.HasPrefix(target.Path, "/") {
		target.Path, target.RawPath = "/"+target.Path, ""
	}
	target.RawQuery = r.URL.RawQuery
	s.proxyToNodeAgent(w, r, pod.Spec.NodeName, target, transport)
	return nil
}
