// Package etcdtest starts real etcd servers for tests: an embedded server in
// the test process ([StartEmbedded]), or the etcd binary (Debian's
// etcd-server package) as external processes forming a 1-, 3- or 5-member
// cluster on 127.0.0.1 ([StartProcess], [Start]).
//
// Every server gets its own data directory under t.TempDir() and ports the
// operating system reports free, so tests can run in parallel with each
// other and with other packages. Servers are stopped and their files removed
// in t.Cleanup, also when the test fails or panics.
//
// When the etcd binary is missing, the process tests are skipped with a
// message saying what to install, except when the CI environment variable is
// set: there the project's test command installs it, so a missing binary is
// a failure.
package etcdtest
