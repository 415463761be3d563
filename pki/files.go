package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// keyMode is the mode of private key and kubeconfig files.
const keyMode = 0o600

// writeFile writes data to path atomically: a temporary file in the same
// directory, synced, then renamed into place. The file has mode perm
// whatever the umask.
func writeFile(path string, data []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-")
	if err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return nil
}

// exists reports whether path exists; errors other than "not found" are
// returned.
func exists(path string) (bool, error) {
	_, err := os.Stat(path)
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("pki: %w", err)
}

// removeHint is appended to errors about files that exist but cannot be
// used.
const removeHint = "remove it to have a new one made"

// WriteCertFile writes PEM certificates (no keys) to path with mode 0644,
// atomically, replacing any file there: for copies of the CA certificate
// that other programs read.
func WriteCertFile(path string, certPEM []byte) error {
	if _, err := ParseCert(certPEM); err != nil {
		return fmt.Errorf("pki: write %s: %w", path, err)
	}
	return writeFile(path, certPEM, 0o644)
}
