// Package raystart is the one reader of rayStartParams. KubeRay pastes each
// value after `--key=` into a `/bin/bash -c` script, so a value is shell text
// (`resources: '"{\"TPU\": 4}"'`); goray runs its runtime without a shell, so
// this package does the shell's part: it parses a value into the one word the
// shell would pass, renders the `goray start` arguments following KubeRay's
// rules, and reads the numbers and resources that the operator's validation,
// the pod builder and the autoscaler need.
package raystart
