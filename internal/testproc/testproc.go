// Package testproc holds what tests need for the processes they start
// (runtime nodes, heads, workers, plain servers): those must not outlive
// the test binary, even when it is killed by a timeout and runs none of its
// cleanups; and under the race detector they are race-built too, with
// their reports collected so that a race in a child fails the test.
package testproc
