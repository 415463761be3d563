package nodeagent

import "golang.org/x/sys/unix"

// statFS returns the size of the filesystem holding path and the bytes
// available on it.
func statFS(path string) (capacity, available uint64, err error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return 0, 0, err
	}
	return st.Blocks * uint64(st.Bsize), st.Bavail * uint64(st.Bsize), nil
}
