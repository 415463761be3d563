package nodeagent

// SetImageFSUsage replaces how a (not yet running) agent measures its image
// filesystem, for tests.
func SetImageFSUsage(a *Agent, f func(path string) (capacity, available uint64, err error)) {
	a.imageFSUsage = f
}
