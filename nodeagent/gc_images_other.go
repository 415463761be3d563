//go:build !linux

package nodeagent

import "errors"

// statFS is not implemented off Linux: image garbage collection then
// reports an error and nodes report no ephemeral-storage.
func statFS(string) (capacity, available uint64, err error) {
	return 0, 0, errors.ErrUnsupported
}
