package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	jobclient "github.com/goray-dev/goray/runtime/jobs/client"
	"github.com/goray-dev/goray/runtime/state"
)

// goray logs, as Ray's `ray logs`: a node's log files (listed, or one
// printed), and the logs of an actor, a task, a job's driver or a worker
// by pid, through the head's /api/v0/logs endpoints.

type logsFlags struct {
	state    stateFlags
	nodeID   string
	nodeIP   string
	tail     int
	follow   bool
	interval time.Duration
	timeout  time.Duration
}

func (f *logsFlags) bind(cmd *cobra.Command, node bool) {
	cmd.Flags().StringVar(&f.state.address, "address", "",
		"dashboard address, http://HOST:PORT or HOST:PORT (default $RAY_DASHBOARD_ADDRESS, $RAY_ADDRESS if it is an http URL, or "+jobclient.DefaultAddress+")")
	if node {
		cmd.Flags().StringVar(&f.nodeID, "node-id", "", "the node (default: the head node)")
		cmd.Flags().StringVar(&f.nodeIP, "node-ip", "", "the node, by its IP address")
	}
	cmd.Flags().IntVar(&f.tail, "tail", 1000, "print the last N lines (-1: the whole file, up to 32 MiB)")
	cmd.Flags().BoolVarP(&f.follow, "follow", "f", false, "follow the log as it grows (until --timeout or Ctrl-C)")
	cmd.Flags().DurationVar(&f.interval, "interval", 0, "how often a follow looks for new lines (default 250ms)")
	cmd.Flags().DurationVar(&f.timeout, "timeout", 0, "how long a follow lasts (default 5m, at most 1h)")
}

func (f *logsFlags) options() state.LogOptions {
	return state.LogOptions{NodeID: f.nodeID, NodeIP: f.nodeIP, Tail: f.tail, Follow: f.follow, Interval: f.interval, Timeout: f.timeout}
}

// print writes the log to stdout; Ctrl-C ends a follow quietly.
func (f *logsFlags) print(cmd *cobra.Command, o state.LogOptions) error {
	c, err := f.state.client()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt)
	defer stop()
	if o.Follow {
		c.HTTP.Timeout = 0 // the follow's own timeout bounds it
	}
	return c.GetLog(ctx, o, cmd.OutOrStdout())
}

func logsCmd() *cobra.Command {
	var f logsFlags
	cmd := &cobra.Command{
		Use:   "logs [FILENAME|GLOB]",
		Short: "Print or list logs of nodes, actors, tasks, jobs and workers (like 'ray logs')",
		Long: `With no argument or a glob, list a node's log files by category; with a
file name, print its last lines (--tail) or follow it (--follow). The node is
the head unless --node-id or --node-ip says otherwise.`,
		Example: `  goray logs                                   # the head's log files
  goray logs --node-id NODE 'worker-*'          # a node's worker logs
  goray logs worker-0a1b.log --node-id NODE --tail 50
  goray logs actor --id ACTOR_ID --follow
  goray logs task --id TASK_ID
  goray logs job --id raysubmit_XYZ
  goray logs worker --pid 4242 --node-id NODE`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			arg := ""
			if len(args) == 1 {
				arg = args[0]
			}
			if arg != "" && !strings.ContainsAny(arg, "*?[") {
				if err := f.defaultNode(cmd.Context()); err != nil {
					return err
				}
				o := f.options()
				o.Filename = arg
				return f.print(cmd, o)
			}
			if err := f.defaultNode(cmd.Context()); err != nil {
				return err
			}
			c, err := f.state.client()
			if err != nil {
				return err
			}
			cats, err := c.ListLogs(cmd.Context(), f.nodeID, f.nodeIP, arg)
			if err != nil {
				return err
			}
			printLogList(cmd.OutOrStdout(), f.nodeID, cats)
			return nil
		},
	}
	f.bind(cmd, true)
	cmd.AddCommand(logsByIDCmd("actor", "the actor's worker log", func(o *state.LogOptions, id string) { o.ActorID = id }),
		logsByIDCmd("task", "the log of the worker that ran the task", func(o *state.LogOptions, id string) { o.TaskID = id }),
		logsByIDCmd("job", "a submitted job's driver log (its submission id)", func(o *state.LogOptions, id string) { o.SubmissionID = id }),
		logsWorkerCmd())
	return cmd
}

// defaultNode is Ray's default: the head node.
func (f *logsFlags) defaultNode(ctx context.Context) error {
	if f.nodeID != "" || f.nodeIP != "" {
		return nil
	}
	c, err := f.state.client()
	if err != nil {
		return err
	}
	nodes, _, err := c.ListNodes(ctx, state.Options{Filters: []state.Filter{{Key: "is_head_node", Predicate: "=", Value: "true"}, {Key: "state", Predicate: "=", Value: "ALIVE"}}})
	if err != nil {
		return err
	}
	if len(nodes) == 0 {
		return errors.New("no alive head node: give --node-id")
	}
	f.nodeID = nodes[0].NodeID
	return nil
}

func logsByIDCmd(kind, what string, set func(*state.LogOptions, string)) *cobra.Command {
	var f logsFlags
	var id string
	var attempt int
	cmd := &cobra.Command{
		Use:   kind + " --id ID",
		Short: "Print " + what,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if id == "" {
				return fmt.Errorf("--id is required: the %s's id", kind)
			}
			o := f.options()
			set(&o, id)
			o.Attempt = attempt
			return f.print(cmd, o)
		},
	}
	f.bind(cmd, false)
	cmd.Flags().StringVar(&id, "id", "", "the "+kind+"'s id")
	if kind == "task" {
		cmd.Flags().IntVar(&attempt, "attempt-number", 0, "the task's attempt (retries count from 1)")
	}
	return cmd
}

func logsWorkerCmd() *cobra.Command {
	var f logsFlags
	var pid int
	cmd := &cobra.Command{
		Use:   "worker --pid PID --node-id NODE",
		Short: "Print the log of a worker process by its pid",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pid <= 0 {
				return errors.New("--pid is required")
			}
			if err := f.defaultNode(cmd.Context()); err != nil {
				return err
			}
			o := f.options()
			o.PID = pid
			return f.print(cmd, o)
		},
	}
	f.bind(cmd, true)
	cmd.Flags().IntVar(&pid, "pid", 0, "the worker's process id")
	return cmd
}

func printLogList(w io.Writer, node string, cats map[string][]string) {
	fmt.Fprintf(w, "Node ID: %s\n", node)
	names := make([]string, 0, len(cats))
	for c := range cats {
		names = append(names, c)
	}
	sort.Strings(names)
	if len(names) == 0 {
		fmt.Fprintln(w, "(no log files)")
	}
	for _, c := range names {
		fmt.Fprintf(w, "%s:\n", c)
		for _, f := range cats[c] {
			fmt.Fprintf(w, "  %s\n", f)
		}
	}
}
