package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/goray-dev/goray/runtime/dashboard"
	jobclient "github.com/goray-dev/goray/runtime/jobs/client"
	"github.com/goray-dev/goray/runtime/state"
)

// The state CLI, as Ray's `ray list`, `ray get` and `ray summary`: tables by
// default, --format json|yaml.

type stateFlags struct {
	address, format string
	limit           int
	detail          bool
	filters         []string
}

func (f *stateFlags) bind(cmd *cobra.Command, list bool) {
	cmd.Flags().StringVar(&f.address, "address", "",
		"dashboard address, http://HOST:PORT or HOST:PORT (default $RAY_DASHBOARD_ADDRESS, $RAY_ADDRESS if it is an http URL, or "+jobclient.DefaultAddress+")")
	cmd.Flags().StringVar(&f.format, "format", "table", "table, json or yaml")
	cmd.Flags().StringArrayVarP(&f.filters, "filter", "f", nil, `Ray's filter "key=value" or "key!=value" (repeatable; all must hold)`)
	if list {
		cmd.Flags().IntVar(&f.limit, "limit", 100, "at most this many entries")
		cmd.Flags().BoolVar(&f.detail, "detail", false, "every column (Ray's detail columns too)")
	}
}

func (f *stateFlags) client() (*state.Client, error) {
	url, hc, err := dashboardTarget(f.address)
	if err != nil {
		return nil, err
	}
	c, err := state.New(url)
	if err != nil {
		return nil, err
	}
	hc.Timeout = 60 * time.Second
	c.HTTP = hc
	return c, nil
}

// prepare reads a command's resource argument, its filters and its client.
func (f *stateFlags) prepare(resource string) (string, []state.Filter, *state.Client, error) {
	res, err := resourceName(resource)
	if err != nil {
		return "", nil, nil, err
	}
	filters, err := f.parsedFilters()
	if err != nil {
		return "", nil, nil, err
	}
	c, err := f.client()
	return res, filters, c, err
}

func (f *stateFlags) parsedFilters() ([]state.Filter, error) {
	var out []state.Filter
	for _, s := range f.filters {
		flt, err := state.ParseFilter(s)
		if err != nil {
			return nil, err
		}
		out = append(out, flt)
	}
	return out, nil
}

// resourceName accepts Ray's CLI spellings (placement-groups, singular).
func resourceName(s string) (string, error) {
	r := strings.ReplaceAll(strings.ToLower(s), "-", "_")
	if !strings.HasSuffix(r, "s") {
		r += "s"
	}
	for _, x := range state.Resources {
		if x == r {
			return r, nil
		}
	}
	return "", fmt.Errorf("unknown resource %q: one of actors, cluster-events, jobs, nodes, objects, placement-groups, tasks, workers", s)
}

func listCmd() *cobra.Command {
	var f stateFlags
	cmd := &cobra.Command{
		Use:   "list RESOURCE",
		Short: "List actors, cluster-events, jobs, nodes, objects, placement-groups, tasks or workers (like 'ray list')",
		Example: `  goray list tasks --filter state=FAILED --detail
  goray list cluster-events --filter severity=ERROR
  goray list actors -f "state!=DEAD" --format json`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, filters, c, err := f.prepare(args[0])
			if err != nil {
				return err
			}
			rows, meta, err := c.List(cmd.Context(), res, state.Options{Limit: f.limit, Detail: f.detail, Filters: filters})
			if err != nil {
				return err
			}
			if f.format != "table" {
				return printStructured(cmd.OutOrStdout(), f.format, rows)
			}
			w := cmd.OutOrStdout()
			fmt.Fprintf(w, "======== List: %s ========\nStats:\n------------------------------\nTotal: %d\n\nTable:\n------------------------------\n",
				time.Now().Format("2006-01-02 15:04:05"), meta.NumFiltered)
			printTable(w, dashboard.Columns(res, f.detail), rows)
			if len(rows) < meta.NumFiltered {
				fmt.Fprintf(w, "\n%d of %d shown: raise --limit to see more\n", len(rows), meta.NumFiltered)
			}
			for _, warn := range meta.Warnings {
				fmt.Fprintf(cmd.ErrOrStderr(), "warning: %s\n", warn)
			}
			return nil
		},
	}
	f.bind(cmd, true)
	return cmd
}

func getCmd() *cobra.Command {
	var f stateFlags
	cmd := &cobra.Command{
		Use:   "get RESOURCE ID",
		Short: "Show one actor, cluster-event, job, node, object, placement-group, task or worker with every field (like 'ray get')",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, _, c, err := f.prepare(args[0])
			if err != nil {
				return err
			}
			key := strings.TrimSuffix(res, "s") + "_id"
			if res == "cluster_events" {
				key = "event_id"
			}
			rows, _, err := c.List(cmd.Context(), res, state.Options{Limit: 10_000, Detail: true, Filters: []state.Filter{{Key: key, Predicate: "=", Value: args[1]}}})
			if err != nil {
				return err
			}
			if len(rows) == 0 {
				return fmt.Errorf("%s %s not found", strings.TrimSuffix(res, "s"), args[1])
			}
			format := f.format
			if format == "table" {
				format = "yaml" // one entry: its fields, as Ray prints it
			}
			var out any = rows
			if len(rows) == 1 {
				out = rows[0]
			}
			return printStructured(cmd.OutOrStdout(), format, out)
		},
	}
	f.bind(cmd, false)
	return cmd
}

func summaryCmd() *cobra.Command {
	var f stateFlags
	cmd := &cobra.Command{
		Use:   "summary tasks|actors|objects",
		Short: "Count tasks by function, actors by class or objects by call site, per state (like 'ray summary')",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			res, filters, c, err := f.prepare(args[0])
			if err != nil {
				return err
			}
			s, err := c.Summary(cmd.Context(), res, filters)
			if err != nil {
				return err
			}
			if f.format != "table" {
				return printStructured(cmd.OutOrStdout(), f.format, s)
			}
			printSummary(cmd.OutOrStdout(), res, s)
			return nil
		},
	}
	f.bind(cmd, false)
	return cmd
}

func printSummary(w io.Writer, res string, s map[string]any) {
	title := map[string]string{"tasks": "Tasks", "actors": "Actors", "objects": "Objects"}[res]
	fmt.Fprintf(w, "======== %s Summary: %s ========\nStats:\n------------------------------------\n", title, time.Now().Format("2006-01-02 15:04:05"))
	var stats []string
	for k, v := range s {
		if k != "summary" && k != "summary_by" {
			stats = append(stats, fmt.Sprintf("%s: %v", k, v))
		}
	}
	sort.Strings(stats)
	for _, l := range stats {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintf(w, "\nTable (group by %v):\n------------------------------------\n", s["summary_by"])
	entries, _ := s["summary"].(map[string]any)
	names := make([]string, 0, len(entries))
	for n := range entries {
		names = append(names, n)
	}
	sort.Strings(names)
	tw := tabwriter.NewWriter(w, 0, 4, 3, ' ', 0)
	switch res {
	case "tasks":
		fmt.Fprintln(tw, "\tFUNC_OR_CLASS_NAME\tSTATE_COUNTS\tTYPE")
	case "objects":
		fmt.Fprintln(tw, "\tCALL_SITE\tTOTAL_OBJECTS\tTOTAL_SIZE_MB\tTOTAL_NUM_WORKERS\tTOTAL_NUM_NODES\tTASK_STATE_COUNTS\tREF_TYPE_COUNTS")
	default:
		fmt.Fprintln(tw, "\tCLASS_NAME\tSTATE_COUNTS")
	}
	for i, n := range names {
		e, _ := entries[n].(map[string]any)
		switch res {
		case "tasks":
			fmt.Fprintf(tw, "%d\t%s\t%s\t%v\n", i, n, stateCounts(e["state_counts"]), e["type"])
		case "objects":
			fmt.Fprintf(tw, "%d\t%s\t%v\t%.3f\t%v\t%v\t%s\t%s\n", i, n, e["total_objects"], e["total_size_mb"], e["total_num_workers"],
				e["total_num_nodes"], stateCounts(e["task_state_counts"]), stateCounts(e["ref_type_counts"]))
		default:
			fmt.Fprintf(tw, "%d\t%s\t%s\n", i, n, stateCounts(e["state_counts"]))
		}
	}
	_ = tw.Flush()
}

func stateCounts(v any) string {
	m, _ := v.(map[string]any)
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s: %v", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// printTable prints rows under upper-cased column names, Ray's way.
func printTable(w io.Writer, cols []string, rows []map[string]any) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	head := make([]string, len(cols))
	for i, c := range cols {
		head[i] = strings.ToUpper(c)
	}
	fmt.Fprintln(tw, "\t"+strings.Join(head, "\t"))
	for i, r := range rows {
		cells := make([]string, len(cols))
		for j, c := range cols {
			cells[j] = cellText(r[c])
		}
		fmt.Fprintf(tw, "%d\t%s\n", i, strings.Join(cells, "\t"))
	}
	_ = tw.Flush()
}

func cellText(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		if x == float64(int64(x)) {
			return fmt.Sprint(int64(x))
		}
		return fmt.Sprint(x)
	case map[string]any, []any:
		b, _ := json.Marshal(x)
		return string(b)
	}
	return fmt.Sprint(v)
}

func printStructured(w io.Writer, format string, v any) error {
	switch format {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "yaml":
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	return fmt.Errorf("--format %q: table, json or yaml", format)
}
