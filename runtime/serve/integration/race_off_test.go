//go:build !race

package integration

// raceBuilt: the test and the cluster's binaries are built with the race
// detector, which slows every process on a request's path several times over.
const raceBuilt = false
