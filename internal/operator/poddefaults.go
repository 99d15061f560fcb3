package operator

import (
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/goray-dev/goray/internal/desired"
)

// PodDefaultsFlags are the raw values of the flags that set
// desired.PodDefaults, each JSON (or YAML) as the chart's `configuration`
// values render them with toJson.
type PodDefaultsFlags struct {
	Env, Labels, Annotations, HeadSidecars, WorkerSidecars string
}

// Flag names of PodDefaultsFlags (cmd/goray-operator binds them; errors name them).
const (
	FlagDefaultContainerEnvs    = "default-container-envs"
	FlagDefaultPodLabels        = "default-pod-labels"
	FlagDefaultPodAnnotations   = "default-pod-annotations"
	FlagHeadSidecarContainers   = "head-sidecar-containers"
	FlagWorkerSidecarContainers = "worker-sidecar-containers"
)

// ParsePodDefaults decodes the flags strictly (an unknown field, such as a
// misspelt `valueFrom`, is an error rather than silently dropped) and
// validates the result. No flag set: nil, the operator adds nothing.
func ParsePodDefaults(f PodDefaultsFlags) (*desired.PodDefaults, error) {
	var d desired.PodDefaults
	for _, p := range []struct {
		flag, value string
		into        any
	}{
		{FlagDefaultContainerEnvs, f.Env, &d.Env},
		{FlagDefaultPodLabels, f.Labels, &d.Labels},
		{FlagDefaultPodAnnotations, f.Annotations, &d.Annotations},
		{FlagHeadSidecarContainers, f.HeadSidecars, &d.HeadSidecars},
		{FlagWorkerSidecarContainers, f.WorkerSidecars, &d.WorkerSidecars},
	} {
		if strings.TrimSpace(p.value) == "" {
			continue
		}
		if err := yaml.UnmarshalStrict([]byte(p.value), p.into); err != nil {
			return nil, fmt.Errorf("--%s: %w", p.flag, err)
		}
	}
	if len(d.Env) == 0 && len(d.Labels) == 0 && len(d.Annotations) == 0 && len(d.HeadSidecars) == 0 && len(d.WorkerSidecars) == 0 {
		return nil, nil
	}
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("pod defaults: %w", err)
	}
	return &d, nil
}
