package v1_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/goray-dev/goray/internal/testenv"
)

var env *testenv.Env

func TestMain(m *testing.M) {
	var err error
	env, err = testenv.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	_ = env.Stop()
	os.Exit(code)
}

// readDocs returns the YAML documents of a file as unstructured objects.
func readDocs(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatalf("%s: %v", path, err)
		}
		if obj == nil {
			continue
		}
		out = append(out, &unstructured.Unstructured{Object: obj})
	}
	return out
}

func apply(ctx context.Context, u *unstructured.Unstructured) error {
	// Client.Apply takes no FieldValidation option (controller-runtime
	// v0.25), and strict validation of unknown fields is what this test is
	// about, so the server-side apply goes through Patch.
	return env.Client.Patch(ctx, u, client.Apply, client.FieldOwner("admission-test"), //nolint:staticcheck // see above
		client.ForceOwnership, client.FieldValidation("Strict"))
}

// TestKubeRaySamplesAreAcceptedAndKept applies every RayCluster, RayJob,
// RayService and RayCronJob of KubeRay's samples with a server-side apply and
// checks that reading each back keeps every field the manifest set.
func TestKubeRaySamplesAreAcceptedAndKept(t *testing.T) {
	ctx := context.Background()
	files, err := filepath.Glob("testdata/kuberay-samples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples found: %v", err)
	}
	kinds := map[string]int{}
	for _, file := range files {
		for _, doc := range readDocs(t, file) {
			if doc.GroupVersionKind().Group != "ray.io" {
				continue
			}
			kinds[doc.GetKind()]++
			name := filepath.Base(file) + "/" + doc.GetKind() + "/" + doc.GetName()
			t.Run(name, func(t *testing.T) {
				ns, err := env.Namespace(ctx, "samples")
				if err != nil {
					t.Fatal(err)
				}
				want := doc.DeepCopy()
				want.SetNamespace(ns)
				if want.GetName() == "" {
					// Server-side apply needs a name; the sample relies on generateName.
					want.SetName(want.GetGenerateName() + "sample")
					want.SetGenerateName("")
				}
				// An empty YAML key ("metadata:") is an explicit null. Create
				// drops such nulls, but server-side apply rejects them for any
				// structural schema (KubeRay's CRDs alike), so send what the
				// author meant: the key unset.
				removeNulls(want.Object)
				sent := want.DeepCopy()
				if err := apply(ctx, sent); err != nil {
					t.Fatalf("server-side apply rejected the sample: %v", err)
				}
				got := &unstructured.Unstructured{}
				got.SetGroupVersionKind(want.GroupVersionKind())
				if err := env.Client.Get(ctx, client.ObjectKeyFromObject(want), got); err != nil {
					t.Fatal(err)
				}
				if missing := missingFields(want.Object["spec"], got.Object["spec"], "spec"); len(missing) > 0 {
					t.Errorf("fields set in the manifest were not kept:\n  %s", strings.Join(missing, "\n  "))
				}
			})
		}
	}
	for _, kind := range []string{"RayCluster", "RayJob", "RayService", "RayCronJob"} {
		if kinds[kind] == 0 {
			t.Errorf("no %s among the samples", kind)
		}
	}
	t.Logf("applied samples by kind: %v", kinds)
}

// missingFields lists the paths of want's leaves that got lacks or changed.
func missingFields(want, got any, path string) []string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{path + " (object missing)"}
		}
		var out []string
		keys := make([]string, 0, len(w))
		for k := range w {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if _, ok := g[k]; !ok {
				if isEmpty(w[k]) {
					continue // an empty value set in YAML means "unset"
				}
				out = append(out, path+"."+k)
				continue
			}
			out = append(out, missingFields(w[k], g[k], path+"."+k)...)
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return []string{path + " (list changed)"}
		}
		var out []string
		for i := range w {
			out = append(out, missingFields(w[i], g[i], fmt.Sprintf("%s[%d]", path, i))...)
		}
		return out
	default:
		if want == nil {
			return nil
		}
		if fmt.Sprint(normalizeNumber(want)) != fmt.Sprint(normalizeNumber(got)) {
			return []string{fmt.Sprintf("%s (sent %v, read back %v)", path, want, got)}
		}
		return nil
	}
}

func removeNulls(obj map[string]any) {
	for k, v := range obj {
		switch x := v.(type) {
		case nil:
			delete(obj, k)
		case map[string]any:
			removeNulls(x)
		case []any:
			for _, item := range x {
				if m, ok := item.(map[string]any); ok {
					removeNulls(m)
				}
			}
		}
	}
}

func isEmpty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

func normalizeNumber(v any) any {
	switch n := v.(type) {
	case int64:
		return float64(n)
	case int:
		return float64(n)
	case int32:
		return float64(n)
	}
	return v
}

// TestInvalidManifestsAreRejectedAtAdmission applies each manifest under
// testdata/invalid; each file's first line, "# expect: <text>", is a part of
// the rejection message, which must name the field at fault.
func TestInvalidManifestsAreRejectedAtAdmission(t *testing.T) {
	ctx := context.Background()
	files, err := filepath.Glob("testdata/invalid/*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("want at least 20 invalid manifests, found %d", len(files))
	}
	ns, err := env.Namespace(ctx, "invalid")
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			expects := expectations(t, file)
			docs := readDocs(t, file)
			// A file may hold an accepted object followed by an update of it;
			// only the last document must be rejected.
			for i, doc := range docs {
				doc.SetNamespace(ns)
				err := apply(ctx, doc)
				if i < len(docs)-1 {
					if err != nil {
						t.Fatalf("setup document %d was rejected: %v", i, err)
					}
					continue
				}
				if err == nil {
					t.Fatalf("accepted, want a rejection mentioning %q", expects)
				}
				for _, expect := range expects {
					if !strings.Contains(err.Error(), expect) {
						t.Errorf("rejection does not mention %q:\n%v", expect, err)
					}
				}
			}
		})
	}
}

// expectations returns the "# expect: <text>" lines at the top of a file:
// each is a part of the rejection (the field path, the advice).
func expectations(t *testing.T, file string) []string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		expect, ok := strings.CutPrefix(line, "# expect: ")
		if !ok {
			break
		}
		out = append(out, strings.TrimSpace(expect))
	}
	if len(out) == 0 {
		t.Fatalf("%s: must start with `# expect: <part of the error>` lines", file)
	}
	return out
}
