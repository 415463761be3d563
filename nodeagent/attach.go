package nodeagent

import "net/http"

// serveAttach serves GET and POST
// /attach/{namespace}/{pod}/{container}?stdin=&stdout=&stderr=&tty= (the
// route Handler registers): like /exec, over the same WebSocket and SPDY
// remote command protocols, but the session attaches to the standard
// streams of the latest attempt of the container's main process
// (runtime.Streamer.Attach) instead of running a command. Detaching (the
// client going away) leaves the process running; when the process exits,
// the session ends with a success status. It blocks until then.
func (a *Agent) serveAttach(w http.ResponseWriter, r *http.Request) {
	a.serveStreams(w, r, true)
}
