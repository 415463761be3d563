// Package job holds the Job controller: it runs up to parallelism pods at
// a time until completions of them have succeeded (or, without
// completions, until one has), marks the Job Failed when more than
// backoffLimit pods failed or activeDeadlineSeconds passed on the injected
// clock (deleting what still runs), and keeps the status (active, ready,
// succeeded, failed, startTime, completionTime, conditions).
//
// Not done yet: the exponential delay before re-creating failed pods, pod
// failure and success policies, indexed completion, suspend, and finalizer
// based tracking of pods that are deleted before being counted.
package job
