package apiserver

import (
	"fmt"
	"net/http"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// execVerbs are the verbs of pods/exec: kubectl and client-go's executors
// send POST (create); WebSocket clients send GET.
var execVerbs = []string{"create", "get"}

// handleExec serves GET and POST pods/<name>/exec (kubectl exec [-it]): it
// checks the pod, the container and the command, then proxies the
// connection upgrade (WebSocket or SPDY, with the query unchanged) to
// /exec/<namespace>/<pod>/<container> on the agent of the pod's node, which
// speaks the remote command stream protocols. It blocks until the session
// ends.
func (s *Server) handleExec(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo) error {
	if len(r.URL.Query()["command"]) == 0 {
		return apierrors.NewBadRequest("you must specify at least one command for the container")
	}
	return s.streamToContainer(w, r, res, info, "exec", "exec into")
}

// streamToContainer checks that the pod of info runs the container the
// query names (or its only one), then proxies the request, upgrade and
// query included, to /<endpoint>/<namespace>/<pod>/<container> on the
// agent of the pod's node. verb names the action in errors ("exec into").
func (s *Server) streamToContainer(w http.ResponseWriter, r *http.Request, res *Resource, info requestInfo, endpoint, verb string) error {
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
		return apierrors.NewBadRequest(fmt.Sprintf("cannot %s a container in a completed pod; current phase is %s", verb, pod.Status.Phase))
	default:
		if pod.Spec.NodeName != "" {
			return apierrors.NewBadRequest(fmt.Sprintf("pod %s is not running; current phase is %s", pod.Name, pod.Status.Phase))
		}
	}
	base, transport, err := s.nodeAgent(r.Context(), pod)
	if err != nil {
		return err
	}
	target := base.JoinPath(endpoint, pod.Namespace, pod.Name, container)
	if !strings.HasPrefix(target.Path, "/") {
		target.Path, target.RawPath = "/"+target.Path, ""
	}
	target.RawQuery = r.URL.RawQuery
	s.proxyToNodeAgent(w, r, pod.Spec.NodeName, target, transport)
	return nil
}
