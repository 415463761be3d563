// Package cluster assembles gantry's components into a running cluster, so
// that the reference programs under examples/ stay short and tests start the
// same wiring.
//
// # Master
//
// [NewMaster] takes a [MasterConfig]; [Master.Run] brings up, in order:
//
//   - the cluster PKI under <DataDir>/pki ([pki.EnsureClusterPKI]): CA,
//     serving and client certificates, service-account key, reused on
//     every start;
//   - the store: an embedded etcd member with its data in <DataDir>/etcd,
//     or the external etcd cluster of MasterConfig.EtcdServers;
//   - the API server on HTTPS, authenticating clients by their
//     certificate ([pki.CertAuthenticator]); requests to the API without a
//     certificate are refused with 401;
//   - <DataDir>/kubeconfig, the administrator's kubeconfig (user "admin"
//     in group system:masters), written once the server is ready.
//
// Run blocks until its context is done, then stops the API server (open
// requests get a few seconds), closes the store and stops etcd last.
// Everything lives in DataDir: a master started again on the same DataDir
// has the same objects and the same CA, so kubeconfig files keep working.
//
// This is the first slice of the master. There is no authorization yet: any
// authenticated user may do anything (RBAC arrives with the security
// issue). The scheduler and controller manager are not part of it yet, so
// kubectl get componentstatuses reports etcd only. No node is attached by
// this package yet.
//
// # Tests
//
// [StartTestMaster] starts an API server inside a test, on the in-memory
// store with its own CA and a TLS listener on a free port, in a few
// milliseconds, and returns clients for it. Tests may run many in parallel.
package cluster
