// Package e2e holds goray's end-to-end tests. They run only with the build
// tag e2e, as root, on the single-node test cluster of hack/cluster:
//
//	go test -tags e2e -timeout 60m -v ./test/e2e/
//
// TestMain brings the cluster up (hack/cluster/up.sh), loads the images
// (hack/cluster/load-images.sh plus the probe image of ./probe), runs the
// tests and tears the cluster down (hack/cluster/down.sh); the last test
// checks that the host is clean afterwards.
//
// Environment:
//
//	GORAY_E2E_REUSE=1   use the running cluster (start one only if none runs) and leave it running
//	GORAY_E2E_KEEP=1    bring the cluster up but leave it running afterwards
//	GORAY_E2E_KEEP_GOING=1  a goray binary that does not build is left out of the images
//	GORAY_CLUSTER_DIR   the cluster's state folder (default ~/.cache/goray/cluster)
package e2e
