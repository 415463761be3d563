// Package endpoints holds the Endpoints and EndpointSlice controllers: for
// every Service with a selector they publish the addresses of the pods the
// selector matches (status.podIP), ready ones as ready addresses and the
// others as not-ready addresses (or all as ready when
// publishNotReadyAddresses is set), with the service's ports resolved by
// number or by the pods' named container ports.
//
// Endpoints objects carry the service's name. EndpointSlices are labelled
// kubernetes.io/service-name and endpointslice.kubernetes.io/managed-by,
// owned by the Service (so the garbage collector removes them with it), one
// per distinct port mapping and at most MaxEndpointsPerSlice endpoints each.
package endpoints
