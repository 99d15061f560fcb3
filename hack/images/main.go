// Command images packs static binaries into container image tarballs
// (docker-archive format) without Docker or a registry, using
// go-containerregistry. The e2e test cluster imports the tarballs into its
// containerd with `ctr -n k8s.io images import`.
//
//	go run ./hack/images -o goray.tar -t goray/goray:dev \
//	    -entrypoint /usr/local/bin/goray \
//	    bin/goray=/usr/local/bin/goray bin/goray-examples=/usr/local/bin/goray-examples
//
// Each positional argument is SRC=DEST: SRC is a file or a folder on disk,
// DEST its absolute path in the image (a folder's contents go under DEST).
// -link PATH=TARGET adds a symbolic link (repeat), e.g. -link /bin/sh=/bin/busybox.
// -ldd adds the shared libraries and the dynamic loader that the packed
// dynamically linked executables need, as this machine's ldd resolves them
// (e.g. Debian's redis-server: hack/cluster/load-images.sh).
// All files go into one layer on top of a minimal filesystem (/etc/passwd and
// /etc/group naming the non-root user 65532, /tmp); the image runs as 65532.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var (
		spec                 Spec
		entrypoint, cmd, env listFlag
		links                listFlag
		out                  string
		ldd                  bool
	)
	flag.StringVar(&out, "o", "", "output tarball (docker-archive)")
	flag.StringVar(&spec.Tag, "t", "", "image reference, e.g. goray/goray:dev")
	flag.Var(&entrypoint, "entrypoint", "entrypoint argument (repeat for more)")
	flag.Var(&cmd, "cmd", "cmd argument (repeat for more)")
	flag.Var(&env, "env", "KEY=VALUE environment variable (repeat for more)")
	flag.Var(&links, "link", "PATH=TARGET symbolic link in the image (repeat for more)")
	flag.StringVar(&spec.User, "user", DefaultUser, "user the image runs as")
	flag.StringVar(&spec.WorkingDir, "workdir", "/", "working directory")
	flag.BoolVar(&ldd, "ldd", false, "also pack the shared libraries (and loader) the packed executables need, as ldd resolves them")
	flag.Usage = func() {
		fmt.Fprintf(flag.CommandLine.Output(), "usage: images -o OUT.tar -t REF [-ldd] [-entrypoint ARG]... [-cmd ARG]... [-link PATH=TARGET]... SRC=DEST...\n")
		flag.PrintDefaults()
	}
	flag.Parse()
	if out == "" || spec.Tag == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	spec.Entrypoint, spec.Cmd, spec.Env = entrypoint, cmd, env
	for _, l := range links {
		p, target, ok := strings.Cut(l, "=")
		if !ok || !strings.HasPrefix(p, "/") || target == "" {
			fmt.Fprintf(os.Stderr, "images: -link %q: want /absolute/path=target\n", l)
			os.Exit(2)
		}
		spec.Links = append(spec.Links, Link{Path: p, Target: target})
	}
	for _, a := range flag.Args() {
		src, dest, ok := strings.Cut(a, "=")
		if !ok || src == "" || !strings.HasPrefix(dest, "/") {
			fmt.Fprintf(os.Stderr, "images: %q: want SRC=/absolute/dest\n", a)
			os.Exit(2)
		}
		spec.Files = append(spec.Files, Mapping{Src: src, Dest: dest})
	}
	if ldd {
		libs, err := SharedLibs(spec.Files)
		if err != nil {
			fmt.Fprintf(os.Stderr, "images: -ldd: %v\n", err)
			os.Exit(1)
		}
		spec.Files = append(spec.Files, libs...)
	}
	if err := WriteTarball(out, spec); err != nil {
		fmt.Fprintf(os.Stderr, "images: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("images: wrote %s (%s)\n", out, spec.Tag)
}
