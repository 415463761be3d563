// Command build builds gantry's local images (gantry.local/busybox, pause
// and echo) into the Docker daemon the environment names, as the tests do
// with images.Build:
//
//	go run github.com/gantryhq/gantry/runtime/images/build
//
// It needs Debian's busybox-static and a Go toolchain, and pulls nothing.
package main
