package images

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"debug/elf"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"sort"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// Version is the tag of the images this package builds. Each image is also
// tagged "latest".
const Version = "1.0"

// The images Build makes.
const (
	// Busybox is a FROM-scratch image of Debian's static busybox with its
	// applet links (/bin/sh, /bin/sleep, /usr/bin/wget...); its command is sh.
	Busybox = "gantry.local/busybox:" + Version
	// Pause is the sandbox image of runtime/docker: the program of
	// runtime/images/pause, which sleeps until SIGTERM.
	Pause = "gantry.local/pause:" + Version
	// Echo is the HTTP echo server of runtime/images/echo, listening on
	// $PORT (8080 by default).
	Echo = "gantry.local/echo:" + Version
)

// All lists the images Build makes.
var All = []string{Busybox, Pause, Echo}

// LabelContentHash is the image label recording the hash of what an image
// was built from; Build rebuilds an image whose label differs.
const LabelContentHash = "gantry.io/content-hash"

// BusyboxPaths are where Build looks for a static busybox binary (Debian's
// busybox-static installs /bin/busybox).
var BusyboxPaths = []string{"/bin/busybox", "/usr/bin/busybox"}

//go:embed pause/main.go echo/main.go
var sources embed.FS

// formatVersion changes when the way images are assembled changes, so that
// old images are rebuilt.
const formatVersion = "gantry-images/1"

// image is one image Build makes.
type image struct {
	ref     string // repo:Version
	changes []string
	// hash returns the content key; build returns the root file system.
	hash  func(arch string) (string, error)
	build func(ctx context.Context, arch string) ([]entry, error)
}

// entry is one file of a root file system.
type entry struct {
	name string // relative, no leading slash
	mode int64
	dir  bool
	link string // symlink target
	data []byte
}

// Build makes sure Busybox, Pause and Echo are present in the Docker daemon
// behind docker and built from the current sources, importing the ones that
// are missing or stale (docker import of a root file system; the Go programs
// are compiled with the go command on PATH, CGO_ENABLED=0). Nothing is pulled.
//
// Build is idempotent and cheap when the images are current (one inspect per
// image). Concurrent calls, also from several processes on one host, are
// safe: they serialize on a lock file in the temporary directory. It needs a
// static busybox binary (Debian package busybox-static) for Busybox and a Go
// toolchain for Pause and Echo.
func Build(ctx context.Context, docker client.APIClient) error {
	v, err := docker.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return fmt.Errorf("images: docker version: %w", err)
	}
	arch := v.Arch
	if arch == "" {
		arch = goruntime.GOARCH
	}
	for _, img := range allImages() {
		if err := ensure(ctx, docker, img, arch); err != nil {
			return err
		}
	}
	return nil
}

func allImages() []image {
	return []image{
		{
			ref:     Busybox,
			changes: []string{`ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`, `CMD ["sh"]`},
			hash:    hashBusybox,
			build:   func(context.Context, string) ([]entry, error) { return busyboxRoot() },
		},
		goImage(Pause, "pause", `ENTRYPOINT ["/pause"]`),
		goImage(Echo, "echo", `ENTRYPOINT ["/echo"]`, `ENV PORT=8080`, `EXPOSE 8080/tcp`),
	}
}

// ensure makes one image current.
func ensure(ctx context.Context, docker client.APIClient, img image, arch string) error {
	hash, err := img.hash(arch)
	if err != nil {
		return fmt.Errorf("image %q: %w", img.ref, err)
	}
	if ok, err := current(ctx, docker, img.ref, hash); err != nil || ok {
		return err
	}

	unlock, err := lock(ctx)
	if err != nil {
		return fmt.Errorf("image %q: %w", img.ref, err)
	}
	defer unlock()
	// Someone may have built it while we waited for the lock.
	if ok, err := current(ctx, docker, img.ref, hash); err != nil || ok {
		return err
	}

	root, err := img.build(ctx, arch)
	if err != nil {
		return fmt.Errorf("image %q: %w", img.ref, err)
	}
	layer, err := tarball(root)
	if err != nil {
		return fmt.Errorf("image %q: %w", img.ref, err)
	}
	changes := append(append([]string{}, img.changes...), fmt.Sprintf("LABEL %s=%s", LabelContentHash, hash))
	rc, err := docker.ImageImport(ctx, client.ImageImportSource{Source: bytes.NewReader(layer), SourceName: "-"}, img.ref,
		client.ImageImportOptions{Changes: changes, Message: "built by gantry runtime/images"})
	if err != nil {
		return fmt.Errorf("image %q: import: %w", img.ref, err)
	}
	err = drain(rc)
	rc.Close()
	if err != nil {
		return fmt.Errorf("image %q: import: %w", img.ref, err)
	}
	return tagLatest(ctx, docker, img.ref)
}

// current reports whether ref exists with content hash, making sure its
// "latest" tag points to it too.
func current(ctx context.Context, docker client.APIClient, ref, hash string) (bool, error) {
	res, err := docker.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("image %q: inspect: %w", ref, err)
	}
	if res.Config == nil || res.Config.Labels[LabelContentHash] != hash {
		return false, nil
	}
	latest, err := docker.ImageInspect(ctx, latestOf(ref))
	if err == nil && latest.ID == res.ID {
		return true, nil
	}
	return true, tagLatest(ctx, docker, ref)
}

func latestOf(ref string) string { return ref[:strings.LastIndex(ref, ":")] + ":latest" }

func tagLatest(ctx context.Context, docker client.APIClient, ref string) error {
	if _, err := docker.ImageTag(ctx, client.ImageTagOptions{Source: ref, Target: latestOf(ref)}); err != nil {
		return fmt.Errorf("image %q: tag latest: %w", ref, err)
	}
	return nil
}

// drain reads a JSON message stream to its end and returns the first error
// it reports.
func drain(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if m.Error != nil {
			return errors.New(m.Error.Message)
		}
	}
}

// --- busybox -----------------------------------------------------------------

// findBusybox returns the first static busybox of BusyboxPaths.
func findBusybox() (string, error) {
	for _, p := range BusyboxPaths {
		f, err := elf.Open(p)
		if err != nil {
			continue
		}
		static := true
		for _, prog := range f.Progs {
			if prog.Type == elf.PT_INTERP {
				static = false
			}
		}
		f.Close()
		if static {
			return p, nil
		}
	}
	return "", fmt.Errorf("no static busybox in %v: install Debian's busybox-static (apt-get install busybox-static)", BusyboxPaths)
}

var busyboxOnce = sync.OnceValues(func() ([]byte, error) {
	p, err := findBusybox()
	if err != nil {
		return nil, err
	}
	return os.ReadFile(p)
})

func hashBusybox(string) (string, error) {
	bin, err := busyboxOnce()
	if err != nil {
		return "", err
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\nbusybox\n", formatVersion)
	h.Write(bin)
	return hex.EncodeToString(h.Sum(nil))[:32], nil
}

func busyboxRoot() ([]entry, error) {
	bin, err := busyboxOnce()
	if err != nil {
		return nil, err
	}
	// Ask the binary which applets it has and where they belong.
	p, err := findBusybox()
	if err != nil {
		return nil, err
	}
	out, err := exec.Command(p, "--list-full").Output()
	if err != nil {
		return nil, fmt.Errorf("%s --list-full: %w", p, err)
	}
	root := []entry{
		{name: "bin", dir: true, mode: 0o755},
		{name: "sbin", dir: true, mode: 0o755},
		{name: "usr", dir: true, mode: 0o755},
		{name: "usr/bin", dir: true, mode: 0o755},
		{name: "usr/sbin", dir: true, mode: 0o755},
		{name: "etc", dir: true, mode: 0o755},
		{name: "root", dir: true, mode: 0o700},
		{name: "tmp", dir: true, mode: 0o1777},
		{name: "var", dir: true, mode: 0o755},
		{name: "bin/busybox", mode: 0o755, data: bin},
		{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnogroup:x:65534:\n")},
	}
	seen := map[string]bool{"bin/busybox": true}
	for _, line := range strings.Split(string(out), "\n") {
		name := strings.Trim(strings.TrimSpace(line), "/")
		if name == "" || seen[name] {
			continue
		}
		switch filepath.Dir(name) {
		case "bin", "sbin", "usr/bin", "usr/sbin":
		default:
			continue // an applet in a directory we do not make
		}
		seen[name] = true
		root = append(root, entry{name: name, mode: 0o777, link: "/bin/busybox"})
	}
	return root, nil
}

// --- Go programs -------------------------------------------------------------

// goImage is an image holding the one static binary of the program under
// runtime/images/<name>, at /<name>.
func goImage(ref, name string, changes ...string) image {
	src := func() ([]byte, error) { return sources.ReadFile(name + "/main.go") }
	return image{
		ref:     ref,
		changes: changes,
		hash: func(arch string) (string, error) {
			b, err := src()
			if err != nil {
				return "", err
			}
			h := sha256.New()
			fmt.Fprintf(h, "%s\n%s\n%s\n%q\n", formatVersion, name, arch, changes)
			h.Write(b)
			return hex.EncodeToString(h.Sum(nil))[:32], nil
		},
		build: func(ctx context.Context, arch string) ([]entry, error) {
			b, err := src()
			if err != nil {
				return nil, err
			}
			bin, err := goBuild(ctx, name, b, arch)
			if err != nil {
				return nil, err
			}
			return []entry{
				{name: "etc", dir: true, mode: 0o755},
				{name: "tmp", dir: true, mode: 0o1777},
				{name: name, mode: 0o755, data: bin},
			}, nil
		},
	}
}

// goBuild compiles a single-file main package statically for linux/arch and
// returns the binary. It builds in a module of its own, in a temporary
// directory, so it needs only the standard library.
func goBuild(ctx context.Context, name string, src []byte, arch string) ([]byte, error) {
	gobin, err := goCommand()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "gantry-image-"+name+"-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	gomod := fmt.Sprintf("module gantry.local/%s\n\ngo 1.22\n", name)
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "main.go"), src, 0o644); err != nil {
		return nil, err
	}
	out := filepath.Join(dir, name)
	cmd := exec.CommandContext(ctx, gobin, "build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch,
		"GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
	if msg, err := cmd.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build %s: %w\n%s", name, err, msg)
	}
	return os.ReadFile(out)
}

// goCommand finds the go command: on PATH, else in the GOROOT this program
// was built with.
func goCommand() (string, error) {
	if p, err := exec.LookPath("go"); err == nil {
		return p, nil
	}
	for _, root := range []string{os.Getenv("GOROOT"), goroot(), "/usr/local/go"} {
		if root == "" {
			continue
		}
		p := filepath.Join(root, "bin", "go")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no go command on PATH or in GOROOT: a Go toolchain is needed to build the pause and echo images")
}

// --- tar ---------------------------------------------------------------------

// tarball writes root as an uncompressed tar, directories first.
func tarball(root []entry) ([]byte, error) {
	sort.SliceStable(root, func(i, j int) bool { return root[i].dir && !root[j].dir })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0)
	for _, e := range root {
		h := &tar.Header{Name: e.name, Mode: e.mode, ModTime: mtime, Format: tar.FormatPAX}
		switch {
		case e.dir:
			h.Typeflag, h.Name = tar.TypeDir, e.name+"/"
		case e.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, e.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(e.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(e.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
