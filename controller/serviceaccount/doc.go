// Package serviceaccount holds the ServiceAccount controller: every active
// namespace gets a ServiceAccount named "default" (recreated if deleted).
// Tokens are not minted here: clients use the TokenRequest API.
package serviceaccount
