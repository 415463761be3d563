// Package controllertest starts an in-process API server on the memory store
// for controller tests, and offers the small waiting helpers those tests
// share. Every controller package uses it, so they all test against the same
// server the same way.
package controllertest
