package main

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// DefaultUser is the non-root user the images run as (distroless's "nonroot").
const DefaultUser = "65532:65532"

// DefaultPath is the PATH of every image; binaries go to /usr/local/bin so
// that pod commands such as `goray start --head` find them.
const DefaultPath = "/usr/local/bin:/usr/bin:/bin"

// Mapping puts a file or a folder's contents from Src (on disk) at Dest (in the image).
type Mapping struct{ Src, Dest string }

// Link is a symbolic link at Path (in the image) pointing to Target, e.g.
// /bin/sh -> /bin/busybox.
type Link struct{ Path, Target string }

// Spec describes one image.
type Spec struct {
	Tag        string
	Files      []Mapping
	Links      []Link
	Entrypoint []string
	Cmd        []string
	Env        []string
	User       string
	WorkingDir string
}

// epoch is the modification time of every entry, so the same inputs give the
// same layer digest.
var epoch = time.Unix(0, 0).UTC()

// baseFiles is the minimal filesystem every image gets: enough for a Go
// program running as 65532 (user lookups, os.TempDir).
var baseFiles = map[string]string{
	"/etc/passwd":        "root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n",
	"/etc/group":         "root:x:0:\nnonroot:x:65532:\n",
	"/etc/nsswitch.conf": "hosts: files dns\n",
}

// Layer builds one uncompressed tar layer from the mappings and links plus baseFiles.
func Layer(files []Mapping, links ...Link) (v1.Layer, error) {
	type entry struct {
		hdr  *tar.Header
		data []byte
	}
	entries := map[string]entry{}
	addDir := func(p string, mode int64) {
		for d := p; d != "/" && d != "."; d = path.Dir(d) {
			if _, ok := entries[d]; ok {
				continue
			}
			m := int64(0o755)
			if d == p {
				m = mode
			}
			entries[d] = entry{hdr: &tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(d, "/") + "/", Mode: m, ModTime: epoch}}
		}
	}
	addFile := func(p string, mode int64, data []byte) {
		addDir(path.Dir(p), 0o755)
		entries[p] = entry{hdr: &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(p, "/"), Mode: mode, Size: int64(len(data)), ModTime: epoch}, data: data}
	}
	for p, c := range baseFiles {
		addFile(p, 0o644, []byte(c))
	}
	addDir("/tmp", 0o1777)
	addDir("/home/nonroot", 0o755)
	entries["/home/nonroot"].hdr.Uid, entries["/home/nonroot"].hdr.Gid = 65532, 65532

	for _, m := range files {
		dest := path.Clean(m.Dest)
		st, err := os.Stat(m.Src)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			data, err := os.ReadFile(m.Src)
			if err != nil {
				return nil, err
			}
			addFile(dest, int64(st.Mode().Perm()), data)
			continue
		}
		addDir(dest, 0o755)
		err = filepath.WalkDir(m.Src, func(p string, d fs.DirEntry, err error) error {
			if err != nil || p == m.Src {
				return err
			}
			rel, _ := filepath.Rel(m.Src, p)
			target := path.Join(dest, filepath.ToSlash(rel))
			info, err := d.Info()
			if err != nil {
				return err
			}
			switch {
			case d.IsDir():
				addDir(target, int64(info.Mode().Perm()))
			case info.Mode().IsRegular():
				data, err := os.ReadFile(p)
				if err != nil {
					return err
				}
				addFile(target, int64(info.Mode().Perm()), data)
			default:
				return fmt.Errorf("%s: only regular files and folders can be packed", p)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}

	for _, l := range links {
		p := path.Clean(l.Path)
		if !path.IsAbs(p) || l.Target == "" {
			return nil, fmt.Errorf("link %q -> %q: want an absolute path and a target", l.Path, l.Target)
		}
		if e, ok := entries[p]; ok && e.hdr.Typeflag != tar.TypeSymlink {
			return nil, fmt.Errorf("link %s: a file or folder is already packed there", p)
		}
		addDir(path.Dir(p), 0o755)
		entries[p] = entry{hdr: &tar.Header{Typeflag: tar.TypeSymlink, Name: strings.TrimPrefix(p, "/"), Linkname: l.Target, Mode: 0o777, ModTime: epoch}}
	}

	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names) // parents sort before their children
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		e := entries[n]
		e.hdr.Format = tar.FormatPAX
		if err := tw.WriteHeader(e.hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
}

// Image builds the image described by s.
func Image(s Spec) (v1.Image, error) {
	layer, err := Layer(s.Files, s.Links...)
	if err != nil {
		return nil, err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	// containerd's import filters by platform: an image without OS and
	// architecture is not unpacked.
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = s.Entrypoint
	cf.Config.Cmd = s.Cmd
	cf.Config.User = s.User
	if cf.Config.User == "" {
		cf.Config.User = DefaultUser
	}
	cf.Config.WorkingDir = s.WorkingDir
	cf.Config.Env = append([]string{"PATH=" + DefaultPath}, s.Env...)
	return mutate.ConfigFile(img, cf)
}

// WriteTarball writes the image as a docker-archive tarball tagged s.Tag.
func WriteTarball(out string, s Spec) error {
	ref, err := name.NewTag(s.Tag)
	if err != nil {
		return err
	}
	img, err := Image(s)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return err
	}
	return os.Rename(tmp, out)
}
