//go:build !linux

package nodeagent

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// Off Linux the agent mounts nothing: memory-backed emptyDirs are plain
// directories and subPaths are checked by resolving their symlinks
// (and must exist).

func canMount() bool { return false }

func mountTmpfs(string, int64) error { return errors.ErrUnsupported }

func unmount(string) error { return nil }

func mountPointsUnder(string) ([]string, error) { return nil, nil }

var errLocked = errors.New("held by another node agent")

func lockFile(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
}

var errEscapes = errors.New("leads outside the volume")

func openBeneath(root, sub string) (*os.File, error) {
	real, err := filepath.EvalSymlinks(filepath.Join(root, sub))
	if err != nil {
		return nil, fmt.Errorf("subPath %q: %w", sub, err)
	}
	realRoot, err := filepath.EvalSymlinks(root)
	if err != nil {
		return nil, err
	}
	if real != realRoot && !strings.HasPrefix(real, realRoot+string(filepath.Separator)) {
		return nil, fmt.Errorf("subPath %q: %w", sub, errEscapes)
	}
	return os.Open(real)
}

func realPath(f *os.File) (string, error) { return f.Name(), nil }

func bindMountFD(*os.File, string) error { return errors.ErrUnsupported }
