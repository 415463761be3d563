// Package serviceaccount holds the controllers of service accounts:
//
//   - the ServiceAccount controller (Name): every active namespace gets a
//     ServiceAccount named "default" (recreated if deleted);
//   - the token controller (TokensName): secrets of type
//     kubernetes.io/service-account-token get their account's long-lived
//     token, ca.crt and namespace, and are deleted with their account;
//   - the root CA publisher (RootCAName): every active namespace gets the
//     kube-root-ca.crt ConfigMap with the cluster CA bundle, which pods'
//     token volumes project as ca.crt.
//
// Short-lived tokens are not minted here: node agents and clients use the
// TokenRequest API.
package serviceaccount
