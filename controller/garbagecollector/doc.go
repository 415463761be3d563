// Package garbagecollector holds the garbage collector: it deletes objects
// whose owners (metadata.ownerReferences) are all gone (background
// deletion), deletes the dependents of an owner the API server marked with
// the foregroundDeletion finalizer and removes that finalizer once no
// blocking dependent is left (foreground deletion), and removes the owner
// references to an owner marked with the orphan finalizer before removing
// that finalizer (orphan deletion).
//
// It discovers every listable, watchable and deletable resource at Start,
// watches them all through dynamic informers and scans the cached graph
// after changes; an owner missing from the cache is confirmed with a live
// GET before anything is deleted.
package garbagecollector
