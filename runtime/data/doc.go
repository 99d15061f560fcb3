// Package data is goray Data, Ray Data for Go: datasets that are loaded,
// transformed and written in parallel on a goray cluster, streaming so
// that a dataset never has to fit in memory or in the object store.
//
// # A pipeline
//
// User functions are registered at package level, under a name, like
// ray.Task and train.Loop: the cluster runs this same executable in its
// workers, and a Go closure cannot travel, so the plan names the function
// and each worker finds it in its own registry. The constructor's result
// is what the pipeline takes:
//
//	type Review struct {
//		Text  string  `data:"text"`
//		Stars int64   `data:"stars"`
//	}
//
//	var clean = data.MapFn("clean", func(ctx context.Context, r Review) (Review, error) {
//		r.Text = strings.TrimSpace(r.Text)
//		return r, nil
//	})
//
//	var positive = data.FilterFn("positive", func(ctx context.Context, r Review) (bool, error) {
//		return r.Stars >= 4, nil
//	})
//
//	// A class: each actor of the pool loads the model once, from the
//	// path given with ConstructorArg.
//	var score = data.MapBatchesClass("score",
//		func(ctx context.Context, path string) (*Model, error) { return LoadModel(path) },
//		func(m *Model, ctx context.Context, batch data.Columns) (data.Columns, error) {
//			batch["score"] = m.Predict(batch["text"].([]string))
//			return batch, nil
//		})
//
//	func main() {
//		ray.Init(ctx) // in a worker, serves tasks and never returns
//		ds := data.ReadParquet("/data/reviews").
//			Map(clean).
//			Filter(positive).
//			MapBatches(score, data.ConstructorArg("/models/model.bin"), data.BatchSize(256),
//				data.ActorPoolSize(2, 8), data.NumGPUs(1))
//		if err := ds.WriteParquet(ctx, "/data/scored"); err != nil { ... }
//		fmt.Println(ds.Stats())
//	}
//
// # Names from Ray Data
//
//	ray.data.range / from_items           Range / FromItems
//	read_parquet, read_csv, read_json     ReadParquet, ReadCSV, ReadJSON (JSON lines)
//	read_text, read_binary_files          ReadText, ReadBinaryFiles
//	override_num_blocks, include_paths    OverrideNumBlocks, IncludePaths
//	columns=[...] (of a read)             ReadColumns
//	map, flat_map, filter                 Map, FlatMap, Filter (with MapFn, FlatMapFn, FilterFn)
//	map_batches(fn)                       MapBatches (MapBatchesFn: tasks)
//	map_batches(Class, concurrency=(a,b)) MapBatches (MapBatchesClass, ActorPoolSize(a, b))
//	fn_constructor_kwargs                 ConstructorArg
//	batch_size, num_cpus, num_gpus        BatchSize, NumCPUs, NumGPUs, Resources
//	add_column, drop_columns, select_columns  AddColumn (ColumnFn), DropColumns, SelectColumns
//	limit, take, take_all, count, schema  Limit, Take, TakeAll, Count, Schema
//	show, iter_rows, iter_batches         Show, IterRows, IterBatches
//	materialize, stats                    Materialize, Stats
//	repartition, random_shuffle, sort     Repartition, RandomShuffle, Sort
//	groupby(k).count/sum/.../map_groups   GroupBy(k).Count, Sum, Mean, Min, Max, Std, Aggregate, MapGroups
//	sum, mean, min, max, std, aggregate   Sum, Mean, Min, Max, Std, Aggregate (whole dataset)
//	union, zip, unique, random_sample     Union, Zip, Unique, RandomSample
//	split, streaming_split                Split, StreamingSplit
//	write_parquet, write_csv, write_json  WriteParquet, WriteCSV, WriteJSON
//	DataContext / ExecutionOptions        ExecutionOptions, Dataset.WithExecutionOptions
//
// Functions that consume take a context (cancel it to stop the run) and
// return an error. Builders return no error, as Ray's do: a misuse (a nil
// function, ActorPoolSize on a plain function) fails the run.
//
// # Rows and batches
//
// A block, the unit of data, is an Apache Arrow record batch
// (github.com/apache/arrow-go): columnar, typed, and what Parquet, CSV and
// JSON readers make. Between processes a block travels as an Arrow IPC
// stream in the object store; a task's output block is a goray object
// that the next operator's task takes as an argument, so blocks move
// between nodes like any object and are freed once consumed.
//
// User functions see rows or batches in the Go form they ask for:
//
//   - a row is a Row (map[string]any, Ray's dict) or a struct: exported
//     fields are columns named by a `data:"name"` tag, else a `json`
//     tag, else the field name (`data:"-"` skips one); a column is
//     matched to a field by exact name, then ignoring case. Column types
//     map to int64 (and the other sized integers), float64, float32,
//     string, bool, []byte, time.Time, and typed slices for lists; nulls
//     are nil in a Row and zero values in a struct (or nil in a pointer
//     field).
//   - a batch is, by the function's type, an arrow.RecordBatch (Ray's
//     "pyarrow" format), Columns (map[string]any of typed slices, Ray's
//     "numpy" format) or []Row. MapBatchesFn(name, func(ctx, data.Columns)
//     (data.Columns, error)) chooses the format by its signature.
//
// Rows a function returns keep the input's column order and types for
// the columns they share; new columns follow in name order.
//
// # Execution
//
// A Dataset is a lazy plan. When it is consumed, consecutive map-like
// stages that run the same way (tasks, or one actor pool with the same
// bounds and resources) are fused into one operator, and a source's reads
// with the stages after it: a block goes from the file through every
// fused function in one task. The streaming executor then runs all
// operators at once; each task is a streaming generator that hands back
// each output block as soon as it is made. Backpressure bounds the data in
// flight (see ExecutionOptions): each operator runs at most MaxTasksPerOp
// tasks, a task runs at most BlocksAheadPerTask blocks ahead of the
// driver, and an operator starts no task and takes no block while the
// blocks it made and its consumer has not taken reach OpBudgetBytes. The
// object store so holds a bounded window of the dataset, whatever its
// size, and the consumer (IterBatches, a write) sees blocks as they come.
//
// Order is kept: every operator emits its output in the order of its
// input (Ray's preserve_order), so Take and iteration see rows in the
// order of the source (files sorted by name within a directory). A task
// whose worker or node dies is retried (MaxTaskRetries), an actor of a
// pool is restarted and its calls retried, and a block a task made whose
// only copy was on a dead node is made again from its lineage when it is
// needed. Aggregations (GroupBy(...).Aggregate, Sum, ...) fold each
// task's blocks into partial states where they are made, so only those
// wait in the object store for the shuffle. A user function's error or
// panic is not retried: the run fails with a UserFuncError naming the
// operator, the function, the row (its index in its block and its
// values) and the file the block was read from.
//
// MapBatches with a batch size gives the function batches of exactly that
// many rows, joining or cutting the blocks of a task, except the last of
// each task, which may be short (batches never span tasks).
//
// # Reading and writing
//
// A path is a file, a directory (read recursively, skipping names that
// start with "." or "_" and, for Parquet, CSV and JSON, other extensions)
// or a glob; MorePaths adds paths. Each file is read by one task (or
// OverrideNumBlocks tasks share the files, in order), in batches of at
// most TargetBlockRows rows, which its task gathers into blocks of up to
// TargetMaxBlockBytes (Ray's target_max_block_size). CSV and JSON column types are inferred from the
// first 1000 rows of each file; the files of one read must share a schema,
// else the run fails naming the first file and the one that differs.
// Lines of text and JSON may be up to 64 MiB, binary files up to 1 GiB.
//
// Writes make one file per block in a directory, named
// <write id>_<task>_<block>.<ext>. Each file is written under a hidden
// temporary name on the node of the task that made it; once every block
// is written the files are renamed to their final names (on their nodes),
// and if the run fails the temporary files are removed instead: a failed
// write leaves no file that looks complete. The files of a node that died
// before the commit are renamed by the driver if it sees them, else the
// write is undone and fails. Workers must see the
// directory at the same path (a shared file system, or a single node).
package data
