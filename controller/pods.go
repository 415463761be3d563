package controller

import (
	"time"

	corev1 "k8s.io/api/core/v1"
)

// PodReady reports whether pod has the Ready condition True.
func PodReady(pod *corev1.Pod) bool {
	return readySince(pod) != nil
}

func readySince(pod *corev1.Pod) *time.Time {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			t := c.LastTransitionTime.Time
			return &t
		}
	}
	return nil
}

// PodAvailable reports whether pod has been ready for at least minReady
// at now (ready at all when minReady is 0).
func PodAvailable(pod *corev1.Pod, minReady time.Duration, now time.Time) bool {
	t := readySince(pod)
	if t == nil {
		return false
	}
	return minReady <= 0 || (!t.IsZero() && !t.Add(minReady).After(now))
}

// PodActive reports whether pod counts toward a workload's replicas: not
// terminated (Succeeded or Failed) and not being deleted.
func PodActive(pod *corev1.Pod) bool {
	return pod.Status.Phase != corev1.PodSucceeded && pod.Status.Phase != corev1.PodFailed &&
		pod.DeletionTimestamp == nil
}
