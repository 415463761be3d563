// Package controller holds the reconcile framework and the controllers of the
// controller manager. Each controller watches desired state through the API
// server and creates, updates or deletes objects until the current state
// matches it. The controllers, by their names in --controllers:
// replicaset and replicationcontroller (package replicaset), deployment,
// endpoint and endpointslice (package endpoints), namespace,
// serviceaccount, garbagecollector, job, cronjob (Jobs at the times of a
// CronJob's schedule), daemonset and statefulset (both keeping their
// templates' history in ControllerRevisions, package history), resourcequota,
// nodelifecycle and podgc, plus serviceaccount-token and
// root-ca-cert-publisher when the controller manager has a signing key and a
// root CA.
//
// A Manager runs controllers over one shared informer factory, optionally
// only while it holds a leader Lease, serves health and metrics, and gives
// controllers an event recorder (Manager.EventRecorder) whose core/v1 Events
// are what kubectl describe lists under an object.
package controller
