// Package resourcequota is the resource quota controller: it keeps the
// status of every ResourceQuota true to the objects of its namespace.
//
// The ResourceQuota admission plugin (apiserver/admission/resourcequota)
// charges status.used when objects are created; nothing charges back when
// they are deleted or finish. This controller recomputes status.hard
// (spec.hard) and status.used of a quota from the objects themselves,
// read from the API server:
//
//   - when a quota is created or its spec.hard changes;
//   - when something it may count is released: a pod deleted, finished
//     or changing its activeDeadlineSeconds; a service deleted or changing
//     type or ports; a config map, secret or replication controller
//     deleted;
//   - and every resync period (Options.ResyncPeriod, 5 minutes by
//     default), which also repairs drift such as charges of requests that
//     failed after admission, and releases count/<resource>.<group> of
//     other resources.
//
// The status is written with the resourceVersion read: when admission
// charged the quota in between, the write conflicts and the quota is
// computed again. The objects are listed from the API server, not from
// the informers' caches, so that objects a cache has not seen yet are not
// taken out of the usage. What remains, as in Kubernetes, is the moment
// between admission's charge and the store's write of the same request: a
// recomputation falling exactly there leaves the object out until the
// next one.
package resourcequota
