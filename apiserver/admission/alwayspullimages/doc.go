// Package alwayspullimages is the AlwaysPullImages admission plugin, for
// multi-tenant clusters: a private image pulled to a node for one tenant
// stays cached there, and with imagePullPolicy IfNotPresent any other pod
// on the node could start it without the credentials. With this plugin
// every container of every pod pulls its image, so the node agent checks
// the pod's pull credentials each time.
//
// As a mutating plugin it sets imagePullPolicy Always on all containers
// (init and ephemeral ones too) of pods created, and of the containers
// whose image an update changes; as a validating plugin it denies, with
// 403 Forbidden, such a pod where a policy is not Always. It is off unless a master lists it in its admission chain.
package alwayspullimages
