//go:build linux

package nodeagent

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// canMount says whether the agent may mount file systems (tmpfs for
// memory-backed emptyDirs, bind mounts for subPaths): it runs as root.
func canMount() bool { return os.Geteuid() == 0 }

// mountTmpfs mounts a tmpfs of at most sizeBytes (0: the kernel's default,
// half the memory) on dir, unless one is mounted there already.
func mountTmpfs(dir string, sizeBytes int64) error {
	if mounted, err := isMountPoint(dir); err != nil || mounted {
		return err
	}
	opts := "mode=0777"
	if sizeBytes > 0 {
		opts += ",size=" + strconv.FormatInt(sizeBytes, 10)
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", unix.MS_NOSUID|unix.MS_NODEV, opts); err != nil {
		return fmt.Errorf("mounting a tmpfs on %s: %w", dir, err)
	}
	return nil
}

// unmount detaches the file system mounted on dir.
func unmount(dir string) error {
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("unmounting %s: %w", dir, err)
	}
	return nil
}

// isMountPoint says whether something is mounted on dir.
func isMountPoint(dir string) (bool, error) {
	mounts, err := mountPointsUnder(dir)
	if err != nil {
		return false, err
	}
	for _, m := range mounts {
		if m == filepath.Clean(dir) {
			return true, nil
		}
	}
	return false, nil
}

// mountPointsUnder lists the mount points at or below dir, deepest first.
func mountPointsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dir = filepath.Clean(dir)
	var out []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		// id parent major:minor root mountpoint options ...
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMountInfo(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	// Deepest first, so that nested mounts are detached before their
	// parents.
	slices.SortStableFunc(out, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return out, nil
}

// unescapeMountInfo undoes the octal escapes (\040 for a space) of
// /proc/self/mountinfo.
func unescapeMountInfo(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// errLocked says that another agent holds a pod directory's lock.
var errLocked = errors.New("held by another node agent")

// lockFile opens (creating) path and takes an exclusive lock on it without
// waiting; errLocked when another open file holds it.
func lockFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, err
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, errLocked
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	return f, nil
}

// errEscapes says that a subPath leads outside its volume.
var errEscapes = errors.New("leads outside the volume")

// openBeneath opens sub inside root (O_PATH) without ever leaving root:
// ".." and symlinks that lead out are refused (errEscapes). Missing
// directories on the way are created (mode 0755), as Kubernetes does for a
// subPath.
func openBeneath(root, sub string) (*os.File, error) {
	rootFD, err := unix.Open(root, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", root, err)
	}
	defer unix.Close(rootFD)
	how := &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_BENEATH | unix.RESOLVE_NO_MAGICLINKS,
	}
	parts := strings.Split(filepath.Clean(sub), "/")
	for i := range parts {
		prefix := strings.Join(parts[:i+1], "/")
		fd, err := unix.Openat2(rootFD, prefix, how)
		if errors.Is(err, unix.ENOENT) {
			parent := rootFD
			if i > 0 {
				if parent, err = unix.Openat2(rootFD, strings.Join(parts[:i], "/"), how); err != nil {
					return nil, beneathErr(sub, err)
				}
			}
			err = unix.Mkdirat(parent, parts[i], 0o755)
			if parent != rootFD {
				unix.Close(parent)
			}
			if err != nil && !errors.Is(err, unix.EEXIST) {
				return nil, fmt.Errorf("subPath %q: creating %s: %w", sub, prefix, err)
			}
			fd, err = unix.Openat2(rootFD, prefix, how)
		}
		if err != nil {
			return nil, beneathErr(sub, err)
		}
		if i == len(parts)-1 {
			return os.NewFile(uintptr(fd), filepath.Join(root, prefix)), nil
		}
		unix.Close(fd)
	}
	return nil, fmt.Errorf("subPath %q: empty", sub)
}

func beneathErr(sub string, err error) error {
	if errors.Is(err, unix.EXDEV) || errors.Is(err, unix.ELOOP) {
		return fmt.Errorf("subPath %q: %w", sub, errEscapes)
	}
	return fmt.Errorf("subPath %q: %w", sub, err)
}

// realPath is the path the kernel resolved an open file to.
func realPath(f *os.File) (string, error) {
	return os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
}

// bindMountFD bind-mounts the file or directory f is open on at target
// (created as an empty file or directory to match), replacing what was
// mounted there. Mounting through the descriptor binds exactly what was
// checked, even if a path component was swapped for a symlink since.
func bindMountFD(f *os.File, target string) error {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return err
	}
	if err := unmount(target); err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(target), 0o750); err != nil {
		return err
	}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	// A target of the other kind (the subPath changed) is replaced.
	if fi, err := os.Lstat(target); err == nil && fi.IsDir() != isDir {
		if err := os.Remove(target); err != nil {
			return err
		}
	}
	if isDir {
		if err := os.MkdirAll(target, 0o755); err != nil {
			return err
		}
	} else {
		tf, err := os.OpenFile(target, os.O_CREATE|os.O_RDONLY, 0o644)
		if err != nil {
			return err
		}
		tf.Close()
	}
	src := "/proc/self/fd/" + strconv.Itoa(int(f.Fd()))
	if err := unix.Mount(src, target, "", unix.MS_BIND, ""); err != nil {
		return fmt.Errorf("bind-mounting a subPath on %s: %w", target, err)
	}
	return nil
}
