// Command echo is a small HTTP server for tests: it answers every request
// with the host's name and a description of the request, one "key: value"
// per line:
//
//	hostname: web-1
//	method: GET
//	path: /hello?x=1
//	host: 10.244.1.5:8080
//	remote: 10.244.1.7:41234
//	header User-Agent: Wget
//
// followed by the request body, if any. GET /healthz answers "ok".
//
// It listens on the port of the -port flag, or else of the PORT environment
// variable, or else 8080, on all addresses. On SIGTERM or SIGINT it stops
// accepting, finishes the requests in flight and exits 0.
//
// It is built statically (CGO_ENABLED=0) into the FROM-scratch image
// gantry.local/echo by package runtime/images.
package main
