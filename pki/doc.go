// Package pki makes and keeps the certificates of a cluster, the way kubeadm
// does under /etc/kubernetes/pki: a cluster certificate authority, the API
// server's serving certificate, client certificates for the users and
// components, and the service-account signing key pair. It also holds the
// two halves of client-certificate authentication: the API server's TLS
// configuration, which asks clients for a certificate, and an
// [apiserver.Authenticator] that checks it.
//
// # Files
//
// [EnsureClusterPKI] keeps everything under one directory:
//
//	ca.crt, ca.key                           cluster CA (10 years)
//	apiserver.crt, apiserver.key             API server serving certificate
//	admin.crt, admin.key                     CN=admin, O=system:masters
//	scheduler.crt, scheduler.key             CN=system:kube-scheduler
//	controller-manager.crt, ...key           CN=system:kube-controller-manager
//	kube-proxy.crt, kube-proxy.key           CN=system:kube-proxy
//	apiserver-kubelet-client.crt, ...key     CN=kube-apiserver-kubelet-client (to node agents)
//	node-<name>.crt, node-<name>.key         CN=system:node:<name>, O=system:nodes
//	serving-node-<name>.crt, ...key          node agent serving certificate (SANs: name, IPs)
//	sa.key, sa.pub                           service-account token signing key pair
//
// Keys are written with mode 0600, every file atomically (a temporary file
// renamed into place). Run again on the same directory, it reuses what is
// there after checking it: a file that does not parse, a key that does not
// belong to its certificate, or a certificate the CA did not sign is an
// error naming the file, never silently replaced (remove the file to have a
// new one made). A leaf certificate that has expired, expires within
// Options.RenewBefore, or no longer has the wanted names (SANs, subject,
// usage) is issued again for the same key.
//
// # Authentication
//
// [ServerTLSConfig] requests a client certificate but neither requires nor
// verifies it during the handshake, as kube-apiserver does: a client without
// a certificate still connects (and may be refused later), and a certificate
// from another CA reaches [CertAuthenticator], which answers with an error,
// so that the client gets a 401 response rather than a TLS alert. The
// authenticator maps the certificate's common name to the user name and its
// organizations to groups.
//
// Writing kubeconfig files ([WriteKubeconfig]) uses client-go's clientcmd,
// so kubectl and client-go read them unchanged.
//
// Nothing in this package starts goroutines; [CA] and [CertAuthenticator]
// are safe for concurrent use. Functions that write files are not safe to
// run concurrently on the same directory.
package pki
