// Command pause is the sandbox ("pause") image of goray's test cluster: a
// tiny static program that holds a pod's namespaces open and does nothing
// else. It exits 0 on SIGTERM or SIGINT and reaps any zombie it inherits
// (as PID 1 of a pod that shares its process namespace).
package main

import (
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if len(os.Args) > 1 && (os.Args[1] == "--help" || os.Args[1] == "-h" || os.Args[1] == "--version") {
		fmt.Println("goray pause: sleeps until SIGTERM or SIGINT")
		return
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	for s := range sigs {
		if s != syscall.SIGCHLD {
			return
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if pid <= 0 || err != nil {
				break
			}
		}
	}
}
