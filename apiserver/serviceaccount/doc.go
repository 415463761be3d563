// Package serviceaccount holds service account tokens for the API server:
//
//   - [Issuer] signs them: short-lived, audience-bound JWTs for the
//     TokenRequest API (serviceaccounts/token), optionally bound to a pod,
//     secret or node, and the long-lived legacy tokens that the token
//     controller writes into secrets of type
//     kubernetes.io/service-account-token.
//   - [Authenticator] checks a bearer token's signature, issuer, audience and
//     lifetime, and that the service account (and the object the token is
//     bound to) still exists with the same UID: deleting the account, the
//     pod or the secret revokes its tokens. The user is
//     system:serviceaccount:<namespace>:<name> in the groups
//     system:serviceaccounts and system:serviceaccounts:<namespace>.
//   - [Admission] is the ServiceAccount admission plugin: a pod gets the
//     "default" account when it names none, must name an existing one, and
//     gets a projected kube-api-access-* volume with a token, the cluster's
//     CA bundle (the kube-root-ca.crt ConfigMap) and its namespace, mounted at
//     /var/run/secrets/kubernetes.io/serviceaccount in every container,
//     unless automountServiceAccountToken is false.
//
// The claims follow Kubernetes, so client libraries that read them (for
// example to find their namespace) work unchanged.
package serviceaccount
