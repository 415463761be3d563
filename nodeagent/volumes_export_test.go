package nodeagent

import "fmt"

// UnmountAll unmounts everything the agent mounted below root (tmpfs
// emptyDirs and subPath binds), for tests to clean up after an agent that
// stopped with pods still running.
func UnmountAll(root string) error {
	mounts, err := mountPointsUnder(root)
	if err != nil {
		return err
	}
	for _, m := range mounts {
		if err := unmount(m); err != nil {
			return fmt.Errorf("unmount %s: %w", m, err)
		}
	}
	return nil
}
