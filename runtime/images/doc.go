// Package images builds the container images gantry's tests and examples
// use, locally and without any registry:
//
//   - gantry.local/busybox ([Busybox]): FROM scratch with Debian's static
//     busybox (package busybox-static) and its applet links;
//   - gantry.local/pause ([Pause]): the sandbox image of runtime/docker, the
//     program in ./pause;
//   - gantry.local/echo ([Echo]): an HTTP server answering with its hostname
//     and the request, the program in ./echo.
//
// [Build] imports them into a Docker daemon through the Docker API (docker
// import of a root file system tarball; the Go programs are compiled with
// CGO_ENABLED=0 into static binaries). Every image carries a label with the
// hash of what it was built from, so Build rebuilds only what changed and is
// cheap to call at the start of every test. Each image is tagged [Version]
// and latest; use the versioned names (pull policy IfNotPresent) so that no
// node agent tries to pull them.
//
// Outside tests, build them with
//
//	go run github.com/gantryhq/gantry/runtime/images/build
package images
