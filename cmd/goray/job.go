package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/spf13/cobra"

	"github.com/goray-dev/goray/runtime/jobs/api"
	"github.com/goray-dev/goray/runtime/jobs/client"
)

// jobCmd is `goray job`, Ray's `ray job` against a head's dashboard.
func jobCmd() *cobra.Command {
	var address string
	cmd := &cobra.Command{
		Use:   "job",
		Short: "Submit, follow, stop, list and delete jobs through a head's dashboard (:8265)",
	}
	cmd.PersistentFlags().StringVar(&address, "address", "",
		"dashboard address, http://HOST:PORT or HOST:PORT (default $RAY_DASHBOARD_ADDRESS, $RAY_ADDRESS if it is an http URL, or "+client.DefaultAddress+")")
	newClient := func() (*client.Client, error) {
		url, hc, err := dashboardTarget(address)
		if err != nil {
			return nil, err
		}
		c, err := client.New(url)
		if err != nil {
			return nil, err
		}
		c.HTTP = hc
		return c, nil
	}
	cmd.AddCommand(jobSubmitCmd(newClient), jobStatusCmd(newClient), jobLogsCmd(newClient), jobStopCmd(newClient),
		jobListCmd(newClient), jobDeleteCmd(newClient))
	return cmd
}

type clientFunc func() (*client.Client, error)

func jobSubmitCmd(newClient clientFunc) *cobra.Command {
	var (
		submissionID, runtimeEnvJSON, runtimeEnvYAML, workingDir, resourcesJSON, metadataJSON string
		cpus, gpus                                                                            float64
		memory                                                                                int64
		noWait, ifAbsent                                                                      bool
	)
	cmd := &cobra.Command{
		Use:   "submit [flags] -- ENTRYPOINT...",
		Short: "Submit a job; without --no-wait, follow its logs and exit with its outcome",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			if ifAbsent && submissionID != "" {
				// A restarted submitter (KubeRay's K8sJobMode) must not submit
				// twice: follow the job that is already there instead.
				if _, err := c.Get(ctx, submissionID); err == nil {
					fmt.Printf("Job '%s' already exists; following it\n", submissionID)
					if noWait {
						return nil
					}
					return followToEnd(ctx, c, submissionID, os.Stdout)
				} else if !client.IsNotFound(err) {
					return err
				}
			}
			req := api.SubmitRequest{Entrypoint: joinEntrypoint(args), SubmissionID: submissionID}
			if runtimeEnvJSON != "" {
				if err := json.Unmarshal([]byte(runtimeEnvJSON), &req.RuntimeEnv); err != nil {
					return fmt.Errorf("--runtime-env-json must be a JSON object: %w", err)
				}
			}
			if runtimeEnvYAML != "" {
				if err := yaml.Unmarshal([]byte(runtimeEnvYAML), &req.RuntimeEnv); err != nil {
					return fmt.Errorf("--runtime-env-yaml must be a YAML mapping: %w", err)
				}
			}
			if metadataJSON != "" {
				if err := json.Unmarshal([]byte(metadataJSON), &req.Metadata); err != nil {
					return fmt.Errorf("--metadata-json must be a JSON object of strings: %w", err)
				}
			}
			if resourcesJSON != "" {
				if err := json.Unmarshal([]byte(resourcesJSON), &req.EntrypointResources); err != nil {
					return fmt.Errorf("--entrypoint-resources must be a JSON object of numbers: %w", err)
				}
			}
			if cmd.Flags().Changed("entrypoint-num-cpus") {
				req.EntrypointNumCPUs = &cpus
			}
			if cmd.Flags().Changed("entrypoint-num-gpus") {
				req.EntrypointNumGPUs = &gpus
			}
			if cmd.Flags().Changed("entrypoint-memory") {
				req.EntrypointMemory = &memory
			}
			if workingDir != "" {
				uri, err := c.UploadWorkingDir(ctx, workingDir)
				if err != nil {
					return err
				}
				fmt.Printf("Uploaded working dir %s as %s\n", workingDir, uri)
				if req.RuntimeEnv == nil {
					req.RuntimeEnv = map[string]any{}
				}
				req.RuntimeEnv["working_dir"] = uri
			}
			id, err := c.Submit(ctx, req)
			if ifAbsent && client.IsDuplicate(err) {
				// Another submitter took the id between the look-up and the
				// submission: the job is there, follow it.
				fmt.Printf("Job '%s' already exists; following it\n", submissionID)
				if noWait {
					return nil
				}
				return followToEnd(ctx, c, submissionID, os.Stdout)
			}
			if err != nil {
				return err
			}
			fmt.Printf("-------------------------------------------------------\nJob '%s' submitted successfully\n-------------------------------------------------------\n", id)
			if noWait {
				fmt.Printf("Query the status of the job:\n  goray job status %s\nRequest the job to be stopped:\n  goray job stop %s\nQuery the logs of the job:\n  goray job logs %s\n", id, id, id)
				return nil
			}
			fmt.Printf("Tailing logs until the job exits (disconnect with Ctrl-C; the job keeps running):\n")
			return followToEnd(ctx, c, id, os.Stdout)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&submissionID, "submission-id", "", "submission id (generated when empty); a taken id is rejected")
	fl.StringVar(&runtimeEnvJSON, "runtime-env-json", "", `runtime_env as JSON, e.g. '{"env_vars": {"K": "V"}}'`)
	fl.StringVar(&workingDir, "working-dir", "", "local directory to upload and run the entrypoint in")
	fl.Float64Var(&cpus, "entrypoint-num-cpus", 0, "CPUs to reserve for the entrypoint")
	fl.Float64Var(&gpus, "entrypoint-num-gpus", 0, "GPUs to reserve for the entrypoint")
	fl.Int64Var(&memory, "entrypoint-memory", 0, "memory in bytes to reserve for the entrypoint")
	fl.StringVar(&resourcesJSON, "entrypoint-resources", "", `custom resources to reserve, as JSON, e.g. '{"TPU": 1}'`)
	fl.StringVar(&metadataJSON, "metadata-json", "", "job metadata as a JSON object of strings")
	fl.BoolVar(&noWait, "no-wait", false, "return after submitting instead of following the logs")
	fl.BoolVar(&ifAbsent, "if-absent", false, "with --submission-id: if the job exists already, follow it instead of submitting")
	fl.StringVar(&runtimeEnvYAML, "runtime-env-yaml", "", "runtime_env as YAML (what a RayJob's runtimeEnvYAML holds)")
	return cmd
}

// joinEntrypoint turns the words after -- into one shell command: a single
// word is taken as written (it may be a whole command line), several are
// quoted where needed so the shell sees the same words.
func joinEntrypoint(args []string) string {
	if len(args) == 1 {
		return args[0]
	}
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = shellQuote(a)
	}
	return strings.Join(out, " ")
}

func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// followToEnd streams a job's logs to w until it ends, then reports the
// outcome: nil only for SUCCEEDED.
func followToEnd(ctx context.Context, c *client.Client, id string, w io.Writer) error {
	if err := follow(ctx, c, id, w); err != nil {
		return err
	}
	d, err := waitTerminal(ctx, c, id)
	if err != nil {
		return err
	}
	fmt.Printf("-------------------------------------------------------\nJob '%s' %s\n-------------------------------------------------------\n", id, outcome(d.Status))
	if d.Status != api.StatusSucceeded {
		return fmt.Errorf("job '%s' ended %s: %s", id, d.Status, d.MessageText())
	}
	return nil
}

func outcome(s api.JobStatus) string {
	switch s {
	case api.StatusSucceeded:
		return "succeeded"
	case api.StatusStopped:
		return "was stopped"
	default:
		return "failed"
	}
}

// follow streams logs with the dashboard's HTTP tail, or, where that is not
// offered (Ray's dashboard only speaks WebSocket there), by polling.
func follow(ctx context.Context, c *client.Client, id string, w io.Writer) error {
	err := c.Tail(ctx, id, w)
	var he *client.HTTPError
	if err == nil || !errors.As(err, &he) || client.IsNotFound(err) {
		return err
	}
	sent := 0
	for {
		d, err := c.Get(ctx, id)
		if err != nil {
			return err
		}
		logs, err := c.Logs(ctx, id)
		if err != nil {
			return err
		}
		if len(logs) > sent {
			_, _ = io.WriteString(w, logs[sent:])
			sent = len(logs)
		}
		if d.Status.IsTerminal() {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// waitTerminal polls until the job has a terminal status.
func waitTerminal(ctx context.Context, c *client.Client, id string) (*api.JobDetails, error) {
	for {
		d, err := c.Get(ctx, id)
		if err != nil {
			return nil, err
		}
		if d.Status.IsTerminal() {
			return d, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func notFound(id string, err error) error {
	if client.IsNotFound(err) {
		return fmt.Errorf("job '%s' does not exist", id)
	}
	return err
}

func jobStatusCmd(newClient clientFunc) *cobra.Command {
	return &cobra.Command{
		Use:   "status SUBMISSION_ID",
		Short: "Show a job's status; exits non-zero for an unknown job",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			d, err := c.Get(cmd.Context(), args[0])
			if err != nil {
				return notFound(args[0], err)
			}
			fmt.Printf("Status for job '%s': %s\nStatus message: %s\n", args[0], d.Status, d.MessageText())
			return nil
		},
	}
}

func jobLogsCmd(newClient clientFunc) *cobra.Command {
	var followFlag bool
	cmd := &cobra.Command{
		Use:   "logs SUBMISSION_ID",
		Short: "Print a job's logs (--follow: until it ends)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if followFlag {
				return notFound(args[0], follow(cmd.Context(), c, args[0], os.Stdout))
			}
			logs, err := c.Logs(cmd.Context(), args[0])
			if err != nil {
				return notFound(args[0], err)
			}
			fmt.Print(logs)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&followFlag, "follow", "f", false, "stream the logs until the job ends")
	return cmd
}

func jobStopCmd(newClient clientFunc) *cobra.Command {
	var noWait bool
	cmd := &cobra.Command{
		Use:   "stop SUBMISSION_ID",
		Short: "Stop a job (SIGTERM, then SIGKILL) and wait until it has ended",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			id := args[0]
			stopped, err := c.Stop(cmd.Context(), id)
			if err != nil {
				return notFound(id, err)
			}
			if !stopped {
				fmt.Printf("Job '%s' had already ended\n", id)
				return nil
			}
			fmt.Printf("Requested job '%s' to stop\n", id)
			if noWait {
				return nil
			}
			d, err := waitTerminal(cmd.Context(), c, id)
			if err != nil {
				return err
			}
			fmt.Printf("Job '%s' %s\n", id, outcome(d.Status))
			return nil
		},
	}
	cmd.Flags().BoolVar(&noWait, "no-wait", false, "return once the stop was requested")
	return cmd
}

func jobListCmd(newClient clientFunc) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the jobs the dashboard knows",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			jobs, err := c.List(cmd.Context())
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(os.Stdout)
				enc.SetIndent("", "  ")
				return enc.Encode(jobs)
			}
			tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "SUBMISSION ID\tSTATUS\tSTART\tEND\tENTRYPOINT")
			for _, j := range jobs {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", j.ID(), j.Status, msTime(j.StartTime), msTime(j.EndTime), j.Entrypoint)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print Ray's JobDetails as JSON")
	return cmd
}

func msTime(ms *int64) string {
	if ms == nil || *ms == 0 {
		return "-"
	}
	return time.UnixMilli(*ms).Format(time.DateTime)
}

func jobDeleteCmd(newClient clientFunc) *cobra.Command {
	return &cobra.Command{
		Use:   "delete SUBMISSION_ID",
		Short: "Delete an ended job's record and logs",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := newClient()
			if err != nil {
				return err
			}
			if _, err := c.Delete(cmd.Context(), args[0]); err != nil {
				return notFound(args[0], err)
			}
			fmt.Printf("Job '%s' deleted successfully\n", args[0])
			return nil
		},
	}
}
