package apiserver

import (
	"net/http"
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
	return s.streamToContainer(w, r, res, info, "attach", "attach")
}
