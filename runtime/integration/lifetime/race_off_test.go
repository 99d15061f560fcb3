//go:build !race

package lifetime

// raceBuilt: the test and the head are built with the race detector.
const raceBuilt = false
