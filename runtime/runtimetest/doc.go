// Package runtimetest is the conformance suite of runtime.Runtime: every
// implementation runs [Run] from its tests. It also has the helpers tests
// that need Docker share: [DockerClient] finds the daemon (skipping, or
// failing on CI, when there is none) and [EnsureImages] builds the test
// images.
package runtimetest
