// Package desired builds the Kubernetes objects a RayCluster asks for — the
// head and worker pods, the head, serve and headless Services, the
// autoscaler's ServiceAccount, Role and RoleBinding, and the auth Secret —
// as pure functions of the spec. Nothing here talks to the API server, reads
// the environment or the clock; the controllers call these builders and
// compare what they return with what exists.
package desired
