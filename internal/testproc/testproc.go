// Package testproc holds what tests need for the processes they start
// (runtime nodes, plain servers): those must not outlive the test binary,
// even when it is killed by a timeout and runs none of its cleanups.
package testproc
