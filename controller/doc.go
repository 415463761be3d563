// Package controller holds the reconcile framework and the controllers of the
// controller manager (node lifecycle, replication, deployments, endpoints and
// more). Each controller watches desired state through the API server and
// creates, updates or deletes objects until the current state matches it.
//
// A Manager runs controllers over one shared informer factory, optionally
// only while it holds a leader Lease, serves health and metrics, and gives
// controllers an event recorder (Manager.EventRecorder) whose core/v1 Events
// are what kubectl describe lists under an object.
package controller
