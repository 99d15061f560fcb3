package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
)

func stopCmd() *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "stop",
		Short: "Stop the goray nodes started on this machine by 'goray start' (by pid file)",
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := filepath.Join(tmpRoot(nil), "pids")
			ents, _ := os.ReadDir(dir)
			stopped := 0
			for _, e := range ents {
				name, ok := strings.CutSuffix(e.Name(), ".pid")
				if !ok {
					continue
				}
				pid, err := strconv.Atoi(name)
				if err != nil {
					continue
				}
				sig := syscall.SIGTERM
				if force {
					sig = syscall.SIGKILL
				}
				if err := syscall.Kill(pid, sig); err != nil {
					_ = os.Remove(filepath.Join(dir, e.Name()))
					_ = os.Remove(filepath.Join(dir, name+".ready"))
					continue
				}
				for i := 0; i < 100 && syscall.Kill(pid, 0) == nil; i++ {
					time.Sleep(50 * time.Millisecond)
				}
				if syscall.Kill(pid, 0) == nil {
					syscall.Kill(pid, syscall.SIGKILL)
				}
				_ = os.Remove(filepath.Join(dir, e.Name()))
				_ = os.Remove(filepath.Join(dir, name+".ready"))
				stopped++
			}
			fmt.Printf("stopped %d goray node(s)\n", stopped)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "kill with SIGKILL")
	return cmd
}
