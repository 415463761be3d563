// Package replicaset holds the ReplicaSet and ReplicationController
// controllers: they create and delete pods until the number of active pods
// matching a ReplicaSet's (or ReplicationController's) selector equals its
// replicas, adopt orphan pods that match the selector and release owned
// pods that no longer do, and report replicas, ready, available and the
// observed generation in the status.
//
// Creations go out in slow-start batches (1, 2, 4, ...) so that a failing
// template costs one request, not hundreds; expectations keep the
// controller from creating again before its informer has seen the pods it
// created.
package replicaset
