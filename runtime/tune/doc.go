// Package tune is goray's Ray Tune for Go: hyperparameter search over a
// registered trainable, with trials run as actors on the cluster.
//
//	var objective = tune.Trainable("toy", func(ctx context.Context, tc *tune.Context, cfg tune.Config) error {
//		x := cfg.Float("x")
//		for i := 1; ; i++ {
//			if err := tc.Report(ctx, map[string]float64{"score": f(x, i)}, nil); err != nil {
//				return err // tune.ErrStopped: the scheduler stopped the trial
//			}
//		}
//	})
//
//	grid, err := tune.Fit(ctx, objective, tune.Space{"x": tune.Uniform(0, 10), "kind": tune.GridSearch("a", "b")},
//		tune.TuneConfig{Metric: "score", Mode: "max", NumSamples: 50, Scheduler: &tune.ASHA{MaxT: 27}},
//		tune.RunConfig{StoragePath: "/tmp/tune", Name: "toy"})
//	best, _ := grid.Best()
//
// Fit draws each trial's config from the space (grids expanded, every
// other domain sampled, NumSamples times) or asks a searcher for it as the
// trial starts (TuneConfig.SearchAlg: TPE), runs up to MaxConcurrentTrials
// trials at once on a pool of actors, feeds each result to the scheduler
// (FIFO, ASHA, MedianStopping, HyperBand, PBT), which may stop, pause or
// exploit the trial, and saves the experiment's state under the storage
// path at every trial event, with each trial's results as JSON lines.
// Restore finishes an experiment whose driver died: the trials that ended
// are kept, the others run again from their checkpoints. TrainerTrainable
// makes each trial a Train run (runtime/train) on its own workers.
package tune
