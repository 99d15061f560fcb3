package main

import (
	"encoding/json"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// stage is what the test reads from one Dockerfile stage.
type stage struct {
	from, user, path string
	entrypoint       []string
	copies           []string // "SRC... DEST" of each COPY
	runs, args       string
}

func parseDockerfile(t *testing.T, file string) map[string]*stage {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(b), "\\\n", " ")
	stages := map[string]*stage{}
	var cur *stage
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		instr, rest, _ := strings.Cut(line, " ")
		rest = strings.TrimSpace(rest)
		switch strings.ToUpper(instr) {
		case "FROM":
			f := strings.Fields(rest)
			cur = &stage{from: f[0]}
			if len(f) == 3 && strings.EqualFold(f[1], "AS") {
				stages[f[2]] = cur
			}
		case "USER":
			cur.user = rest
		case "ENV":
			if p, ok := strings.CutPrefix(rest, "PATH="); ok {
				cur.path = p
			}
		case "ENTRYPOINT":
			if err := json.Unmarshal([]byte(rest), &cur.entrypoint); err != nil {
				t.Errorf("ENTRYPOINT %s: not the exec form: %v", rest, err)
			}
		case "COPY":
			cur.copies = append(cur.copies, rest)
		case "RUN":
			cur.runs += rest + "\n"
		case "ARG":
			if cur != nil {
				cur.args += rest + "\n"
			}
		}
	}
	return stages
}

// loadImagesScript reads hack/cluster/load-images.sh, which packs the images
// the test cluster runs.
func loadImagesScript(t *testing.T) string {
	b, err := os.ReadFile("../cluster/load-images.sh")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDockerfileMatchesPackedImages: the Dockerfile's targets name the same
// binaries, paths, entrypoints, user, PATH and busybox applets as the images
// hack/cluster/load-images.sh packs with this tool (we cannot run Docker here).
func TestDockerfileMatchesPackedImages(t *testing.T) {
	stages := parseDockerfile(t, "../../Dockerfile")
	script := loadImagesScript(t)

	for _, name := range []string{"builder", "busybox", "operator", "runtime"} {
		if stages[name] == nil {
			t.Fatalf("Dockerfile has no stage %q", name)
		}
	}
	for _, cmd := range []string{"goray", "goray-operator", "goray-examples"} {
		if !strings.Contains(stages["builder"].runs, "-o /out/"+cmd+" ./cmd/"+cmd) {
			t.Errorf("builder does not build ./cmd/%s into /out/%s", cmd, cmd)
		}
	}
	if !strings.HasPrefix(stages["builder"].from, "golang:") {
		t.Errorf("builder FROM %s, want golang", stages["builder"].from)
	}

	want := map[string]struct {
		entrypoint string
		files      []string
	}{
		"operator": {"/usr/local/bin/goray-operator", []string{"/usr/local/bin/goray-operator"}},
		"runtime":  {"/usr/local/bin/goray", []string{"/usr/local/bin/goray", "/usr/local/bin/goray-examples"}},
	}
	for name, w := range want {
		s := stages[name]
		if s.from != "gcr.io/distroless/static:nonroot" {
			t.Errorf("%s FROM %s, want gcr.io/distroless/static:nonroot", name, s.from)
		}
		if !slices.Equal(s.entrypoint, []string{w.entrypoint}) {
			t.Errorf("%s ENTRYPOINT %q, want [%s]", name, s.entrypoint, w.entrypoint)
		}
		if s.user != DefaultUser {
			t.Errorf("%s USER %q, want %s (hack/images DefaultUser)", name, s.user, DefaultUser)
		}
		if s.path != DefaultPath {
			t.Errorf("%s PATH %q, want %s (hack/images DefaultPath)", name, s.path, DefaultPath)
		}
		for _, f := range w.files {
			found := false
			for _, c := range s.copies {
				if strings.HasSuffix(c, " "+f) {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: no COPY to %s", name, f)
			}
			// The packed image has the same file.
			if !strings.Contains(script, "="+f+"\"") && !strings.Contains(script, "="+f+" ") && !strings.Contains(script, "="+f+")") {
				t.Errorf("load-images.sh packs no %s", f)
			}
		}
		if !regexp.MustCompile(`-entrypoint ` + regexp.QuoteMeta(w.entrypoint) + `[ "]`).MatchString(script) {
			t.Errorf("load-images.sh: no -entrypoint %s", w.entrypoint)
		}
	}

	// The runtime image's shell: the same busybox applets in both.
	m := regexp.MustCompile(`(?s)BUSYBOX_APPLETS=\((.*?)\)`).FindStringSubmatch(script)
	if m == nil {
		t.Fatal("load-images.sh: no BUSYBOX_APPLETS=(...)")
	}
	packed := strings.Fields(m[1])
	d := regexp.MustCompile(`BUSYBOX_APPLETS="([^"]*)"`).FindStringSubmatch(stages["busybox"].args)
	if d == nil {
		t.Fatal(`Dockerfile busybox stage: no ARG BUSYBOX_APPLETS="..."`)
	}
	if docker := strings.Fields(d[1]); !slices.Equal(docker, packed) {
		t.Errorf("busybox applets: Dockerfile %q, load-images.sh %q", docker, packed)
	}
	if !slices.Contains(packed, "sh") || !slices.Contains(packed, "wget") {
		t.Errorf("applets %q lack sh or wget", packed)
	}
	for _, want := range []string{"busybox-static", "/out/bin/busybox", "ln -s /bin/busybox /out/usr/bin/env"} {
		if !strings.Contains(stages["busybox"].runs, want) {
			t.Errorf("busybox stage lacks %q", want)
		}
	}
	if !slices.ContainsFunc(stages["runtime"].copies, func(c string) bool { return c == "--from=busybox /out/ /" }) {
		t.Errorf("runtime does not copy the busybox stage's /out/")
	}
	if !strings.Contains(script, `"$bb/root/bin/busybox=/bin/busybox"`) || !strings.Contains(script, "-link /usr/bin/env=/bin/busybox") {
		t.Errorf("load-images.sh does not pack /bin/busybox and the /usr/bin/env link")
	}
}
