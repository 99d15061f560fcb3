package raycluster

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"

	rayv1 "github.com/goray-dev/goray/api/v1"
	"github.com/goray-dev/goray/internal/desired"
	"github.com/goray-dev/goray/internal/raystart"
)

// validate finds what admission cannot check but makes every pod of the
// cluster fail: it returns the first problem, naming the field.
func validate(c *rayv1.RayCluster) *failure {
	if f := validateGroup("spec.headGroupSpec", c.Spec.HeadGroupSpec.RayStartParams, c.Spec.HeadGroupSpec.Template); f != nil {
		return f
	}
	for i := range c.Spec.WorkerGroupSpecs {
		g := &c.Spec.WorkerGroupSpecs[i]
		if f := validateGroup(fmt.Sprintf("spec.workerGroupSpecs[%d]", i), g.RayStartParams, g.Template); f != nil {
			return f
		}
	}
	// The serve ports as the pods get them (serve-port from the container's
	// port named serve, or a worker's from the head's): a node whose HTTP
	// and gRPC proxies were given one port would not start.
	if err := raystart.CheckServePorts(desired.HeadStartParams(c)); err != nil {
		return &failure{reason: rayv1.InvalidSpec, message: "spec.headGroupSpec." + err.Error()}
	}
	for i := range c.Spec.WorkerGroupSpecs {
		if err := raystart.CheckServePorts(desired.WorkerStartParams(c, &c.Spec.WorkerGroupSpecs[i])); err != nil {
			return &failure{reason: rayv1.InvalidSpec, message: fmt.Sprintf("spec.workerGroupSpecs[%d].%s", i, err.Error())}
		}
	}
	return nil
}

func validateGroup(path string, params map[string]string, tmpl corev1.PodTemplateSpec) *failure {
	if len(tmpl.Spec.Containers) > 0 && tmpl.Spec.Containers[0].Image == "" {
		return &failure{reason: rayv1.InvalidSpec, message: path + ".template.spec.containers[0].image: the Ray container needs an image"}
	}
	if err := raystart.Validate(params); err != nil {
		return &failure{reason: rayv1.InvalidSpec, message: path + "." + err.Error()}
	}
	return nil
}

// unsupportedFields lists the fields this cluster sets that goray accepts
// but does not act on (docs/compatibility.md).
func unsupportedFields(c *rayv1.RayCluster) []string {
	var out []string
	sp := &c.Spec
	if sp.HistoryServerOptions != nil {
		out = append(out, "spec.historyServerOptions")
	}
	if sp.HeadGroupSpec.EnableIngress != nil && *sp.HeadGroupSpec.EnableIngress {
		out = append(out, "spec.headGroupSpec.enableIngress")
	}
	if sp.AuthOptions != nil && sp.AuthOptions.EnableK8sTokenAuth != nil && *sp.AuthOptions.EnableK8sTokenAuth {
		out = append(out, "spec.authOptions.enableK8sTokenAuth")
	}
	if ft := sp.GcsFaultToleranceOptions; ft != nil && ft.Backend == rayv1.GcsBackendRocksDB {
		out = append(out, "spec.gcsFaultToleranceOptions.backend: rocksdb")
	}
	return out
}

// warnUnsupportedFields emits one Warning per unsupported field when the
// generation changes (not on every reconcile).
func (s *scope) warnUnsupportedFields(rec events.EventRecorder) {
	if s.cluster.Status.ObservedGeneration == s.cluster.Generation {
		return
	}
	for _, f := range unsupportedFields(s.cluster) {
		rec.Eventf(s.cluster, nil, corev1.EventTypeWarning, "UnsupportedField", "Validate",
			"%s is accepted but goray does not act on it yet (see docs/compatibility.md)", f)
	}
}
