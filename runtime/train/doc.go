// Package train is goray's Ray Train for Go: data-parallel training of a
// user's loop on a group of workers.
//
// Register the loop at package level (the cluster runs this binary's
// workers), then fit it:
//
//	var loop = train.Loop("mnist", func(ctx context.Context, tc *train.Context, cfg Config) error {
//		w := initWeights(cfg)
//		if ck := tc.Checkpoint(); ck != nil { w = load(ck.Path) }   // resume after a failure
//		for epoch := range cfg.Epochs {
//			grads := gradients(w, shard(tc.WorldRank(), tc.WorldSize()))
//			collective.AllReduce(ctx, tc.Group(), grads, collective.Mean) // every worker the same step
//			w.step(grads)
//			ck, _ := tc.NewCheckpoint() // a directory to write into; Report commits it
//			save(w, ck.Path)
//			tc.Report(ctx, map[string]float64{"loss": loss(w), "epoch": float64(epoch)}, ck)
//		}
//		return nil
//	})
//
//	res, err := train.Fit(ctx, loop, Config{...}, train.ScalingConfig{NumWorkers: 4, ResourcesPerWorker: map[string]float64{"CPU": 1}},
//		train.RunConfig{StoragePath: "/mnt/ckpt", Name: "mnist", FailureConfig: train.FailureConfig{MaxFailures: 2}})
//
// Workers are actors in one placement group (ScalingConfig's resources and
// strategy); each gets its world rank, local rank and node rank, and a
// collective group of all workers (runtime/collective) for its gradients.
// Report sends metrics (rank 0's are the run's) and, from rank 0, a
// checkpoint: a directory committed atomically under the storage path
// (written under a temporary name, then renamed), of which RunConfig's
// CheckpointConfig keeps the best or latest few. A worker that fails (its
// loop's error, its process or node lost) fails the attempt: every worker
// stops and, within FailureConfig.MaxFailures, the group starts again from
// the latest checkpoint; the metrics history keeps the reports up to that
// checkpoint, and the new attempt's follow them: no gap, no repeat.
package train
