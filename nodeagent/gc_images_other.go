//go:build !linux

package nodeagent

import "errors"

// statImageFS is not implemented off Linux: image garbage collection then
// reports an error.
func statImageFS(string) (capacity, available uint64, err error) {
	return 0, 0, errors.ErrUnsupported
}
