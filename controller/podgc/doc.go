// Package podgc holds the pod garbage collector: it force-deletes pods
// bound to nodes that no longer exist (confirmed with a live GET after the
// node has been missing for a quarantine period), pods being deleted that
// were never scheduled, and the oldest terminated (Succeeded or Failed) pods
// beyond TerminatedPodThreshold. Collect does one pass (tests call it after
// stepping a fake clock); Start calls it every Period.
package podgc
