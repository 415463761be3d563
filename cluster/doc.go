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
//     certificate ([pki.CertAuthenticator]), a service account token
//     (signed with the PKI's service-account key; package
//     apiserver/serviceaccount) or a bearer token of
//     MasterConfig.TokenAuthFile; requests to the API without credentials
//     are refused with 401; users may impersonate others as RBAC lets
//     them;
//   - authorization: system:masters may do anything, then the node
//     authorizer, then RBAC (packages apiserver/noderestriction and
//     apiserver/rbac); admission with LimitRanger, ServiceAccount,
//     NodeRestriction, Priority, DefaultTolerationSeconds (300 s, or
//     MasterConfig's DefaultNotReadyTolerationSeconds and
//     DefaultUnreachableTolerationSeconds), RBAC's escalation check and
//     ResourceQuota (and AlwaysPullImages when
//     MasterConfig.EnableAdmissionPlugins names it); the RBAC bootstrap
//     policy is applied (reconciled)
//     before the master is ready, so that the scheduler
//     (system:kube-scheduler), the controller manager
//     (system:kube-controller-manager), node agents (system:node:<name> in
//     system:nodes) and the service proxy (system:kube-proxy) have exactly
//     their roles; other users have none until roles are bound to them;
//   - <DataDir>/kubeconfig, the administrator's kubeconfig (user "admin"
//     in group system:masters), and for each of MasterConfig.NodeNames
//     <DataDir>/nodes/<name>.kubeconfig (and kube-proxy.kubeconfig) and
//     its node agent's serving certificate <DataDir>/nodes/<name>.crt and
//     .key, with the cluster CA in <DataDir>/nodes/ca.crt, written once
//     the server is ready;
//   - the API server reaches node agents (logs, exec) over HTTPS as
//     kube-apiserver-kubelet-client (system:kubelet-api-admin) and checks
//     their serving certificates against the cluster CA for the node's
//     name.
//
// Run blocks until its context is done, then stops the API server (open
// requests get a few seconds), closes the store and stops etcd last.
// Everything lives in DataDir: a master started again on the same DataDir
// has the same objects and the same CA, so kubeconfig files keep working.
//
// Only /healthz, /livez and /readyz are open to clients without a
// certificate; discovery, /version and /openapi are for every
// authenticated user (system:discovery), /metrics for system:masters and
// the group system:monitoring. The master also runs the scheduler and the
// controller manager, each with its own certificate.
//
// # Node
//
// [NewNode] takes a [NodeConfig]; [Node.Run] runs, until its context is
// done:
//
//   - the overlay ([NewOverlay]: a pod subnet leased in the master's etcd,
//     vxlan or host-gw routes to the other nodes), when NodeConfig.Overlay
//     is set; pods then join its bridge with addresses from the subnet;
//   - the node agent on Docker (the local images are built first) or on
//     the fake runtime; its API is HTTPS (NodeConfig.TLSCertFile, else a
//     self-signed certificate), takes client certificates of
//     NodeConfig.ClientCAFile and bearer tokens (checked with a
//     TokenReview), and lets a user in when a SubjectAccessReview allows
//     nodes/proxy (401 without credentials, 403 without the role);
//   - the service proxy, when NodeConfig.ProxyMode is iptables or
//     nftables ([CleanupProxy] and [CleanupOverlay] remove what they leave
//     on the host).
//
// # Tests
//
// [StartTestMaster] starts an API server inside a test, on the in-memory
// store with its own CA and a TLS listener on a free port, in a few
// milliseconds, and returns clients for it. Tests may run many in parallel.
// It authenticates like a master but authorizes nothing (every
// authenticated user may do anything) unless started with
// [StartTestMasterWithOptions] and TestMasterOptions.RBAC, which gives it
// a master's authorization and bootstrap policy. [StartTestCluster] adds
// the scheduler, the controllers and fake-runtime nodes: a whole cluster
// in process, Ready in tens of milliseconds.
package cluster
