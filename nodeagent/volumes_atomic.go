package nodeagent

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// The names the atomic writer keeps in a volume directory besides the
// user-visible ones.
const (
	dataDirName    = "..data"     // symlink to the current timestamped directory
	newDataDirName = "..data_tmp" // the next ..data, renamed over it
)

// volumeFile is one file of an API-data volume (configMap, secret,
// downwardAPI, projected).
type volumeFile struct {
	data []byte
	mode fs.FileMode
}

// checkVolumePath checks a file path inside a volume: relative, no ".."
// element, not starting with ".." (the writer's own names), no empty
// element. The API server validates item paths; keys of a config map or
// secret (used as paths when no items are given) and the writer's input are
// checked here again so that nothing is ever written outside the volume.
func checkVolumePath(p string) error {
	switch {
	case p == "":
		return errors.New("empty path")
	case filepath.IsAbs(p):
		return fmt.Errorf("path %q: must be relative", p)
	case strings.HasPrefix(p, ".."):
		return fmt.Errorf("path %q: must not start with '..'", p)
	}
	for _, el := range strings.Split(p, "/") {
		if el == "" || el == "." || el == ".." {
			return fmt.Errorf("path %q: must not contain empty, '.' or '..' elements", p)
		}
	}
	return nil
}

// writeAtomic makes dir hold exactly files (relative path -> content) so
// that a reader sees either the old set or the new one, never a mix, as
// users of Kubernetes volumes rely on: the files are written to a new
// timestamped directory, the symlink ..data is switched to it with one
// rename, and every user-visible top-level name is a symlink through ..data.
// Nothing is written when the content and modes are unchanged. now names
// the new directory. It reports whether anything changed.
//
// writeAtomic is not safe for concurrent use on the same dir.
func writeAtomic(dir string, files map[string]volumeFile, now time.Time) (bool, error) {
	top := map[string]bool{}
	for p := range files {
		if err := checkVolumePath(p); err != nil {
			return false, err
		}
		first, _, _ := strings.Cut(p, "/")
		top[first] = true
	}
	// A file may not also be a directory of another file.
	for p := range files {
		for d := filepath.Dir(p); d != "."; d = filepath.Dir(d) {
			if _, ok := files[d]; ok {
				return false, fmt.Errorf("path %q: conflicts with file %q", p, d)
			}
		}
	}

	oldTS, err := os.Readlink(filepath.Join(dir, dataDirName))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		oldTS = ""
	case err != nil:
		return false, err
	}
	if oldTS != "" {
		same, err := sameFiles(filepath.Join(dir, oldTS), files)
		if err != nil {
			return false, err
		}
		if same && visibleNamesMatch(dir, top) {
			return false, nil
		}
	}

	tsDir, err := os.MkdirTemp(dir, now.UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, err
	}
	if err := os.Chmod(tsDir, 0o755); err != nil {
		return false, errors.Join(err, os.RemoveAll(tsDir))
	}
	for _, p := range slices.Sorted(maps.Keys(files)) {
		f := files[p]
		full := filepath.Join(tsDir, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return false, errors.Join(err, os.RemoveAll(tsDir))
		}
		if err := os.WriteFile(full, f.data, f.mode.Perm()); err != nil {
			return false, errors.Join(err, os.RemoveAll(tsDir))
		}
		// WriteFile's mode is subject to the umask.
		if err := os.Chmod(full, f.mode.Perm()); err != nil {
			return false, errors.Join(err, os.RemoveAll(tsDir))
		}
	}

	// Swap ..data in one rename.
	tmpLink := filepath.Join(dir, newDataDirName)
	if err := os.Remove(tmpLink); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, errors.Join(err, os.RemoveAll(tsDir))
	}
	if err := os.Symlink(filepath.Base(tsDir), tmpLink); err != nil {
		return false, errors.Join(err, os.RemoveAll(tsDir))
	}
	if err := os.Rename(tmpLink, filepath.Join(dir, dataDirName)); err != nil {
		return false, errors.Join(err, os.Remove(tmpLink), os.RemoveAll(tsDir))
	}

	// User-visible names: new ones appear, gone ones disappear.
	for name := range top {
		link := filepath.Join(dir, name)
		want := filepath.Join(dataDirName, name)
		if got, err := os.Readlink(link); err == nil && got == want {
			continue
		}
		if err := os.RemoveAll(link); err != nil {
			return true, err
		}
		if err := os.Symlink(want, link); err != nil {
			return true, err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return true, err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") || top[e.Name()] {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return true, err
		}
	}
	// Old timestamped directories (and any left by a crash) go last.
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, "..") && n != dataDirName && n != filepath.Base(tsDir) && e.IsDir() {
			if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
				return true, err
			}
		}
	}
	return true, nil
}

// sameFiles reports whether dir holds exactly files, with the same content
// and modes.
func sameFiles(dir string, files map[string]volumeFile) (bool, error) {
	n := 0
	same := true
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		want, ok := files[filepath.ToSlash(rel)]
		if !ok || !d.Type().IsRegular() {
			same = false
			return filepath.SkipAll
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm() != want.mode.Perm() || info.Size() != int64(len(want.data)) {
			same = false
			return filepath.SkipAll
		}
		got, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want.data) {
			same = false
			return filepath.SkipAll
		}
		n++
		return nil
	})
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return same && n == len(files), nil
}

// visibleNamesMatch reports whether the user-visible entries of dir are
// exactly the symlinks to top through ..data.
func visibleNamesMatch(dir string, top map[string]bool) bool {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	n := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "..") {
			continue
		}
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil || !top[e.Name()] || target != filepath.Join(dataDirName, e.Name()) {
			return false
		}
		n++
	}
	return n == len(top)
}
