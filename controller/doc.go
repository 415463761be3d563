// Package controller holds the reconcile framework and the controllers of the
// controller manager (node lifecycle, replication, deployments, endpoints and
// more). Each controller watches desired state through the API server and
// creates, updates or deletes objects until the current state matches it.
package controller
