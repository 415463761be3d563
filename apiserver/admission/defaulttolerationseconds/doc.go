// Package defaulttolerationseconds is the DefaultTolerationSeconds
// admission plugin: a pod created without a toleration of the NoExecute
// taints node.kubernetes.io/not-ready and node.kubernetes.io/unreachable
// gets one of each, for a limited time (300 s unless configured, as
// kube-apiserver's --default-not-ready-toleration-seconds and
// --default-unreachable-toleration-seconds). The node lifecycle controller
// taints a node that stops being Ready with one of them, and so evicts its
// pods once their toleration runs out: five minutes after the node went,
// unless the pod says otherwise.
//
// A pod keeps any toleration it brings: one that already tolerates a taint
// (by key, by an empty key with operator Exists, or by an empty effect)
// gets no default for it. Only creations are changed; updates and other
// resources pass untouched. Masters run it by default, after Priority.
package defaulttolerationseconds
