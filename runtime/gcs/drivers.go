package gcs

import (
	"context"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	ev "github.com/goray-dev/goray/runtime/clusterevents"
	"github.com/goray-dev/goray/runtime/internal/rpcutil"
	rpcpb "github.com/goray-dev/goray/runtime/proto"
)

// driverProbes bounds the driver probes in flight in one round.
const driverProbes = 8

// watchDrivers probes the driver of every unfinished job every
// driverProbeInterval and ends the job of a driver found dead
// (driverwatch.go decides) until Stop.
func (s *Server) watchDrivers() {
	// Its own pool: connections to drivers come and go with them.
	pool := rpcutil.NewPool(s.cfg.Security)
	defer pool.Close()
	s.mu.Lock()
	tr := newDriverTracker(s.driversQuietUntil)
	s.mu.Unlock()
	t := time.NewTicker(driverProbeInterval)
	defer t.Stop()
	known := map[string]bool{} // addresses with a pooled connection
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		drivers := s.unfinishedDrivers()
		tr.retain(drivers)
		live := map[string]bool{}
		for _, addr := range drivers {
			live[addr] = true
		}
		for addr := range known {
			if !live[addr] {
				pool.Drop(addr)
				delete(known, addr)
			}
		}
		for job, r := range rpcutil.FanOut(drivers, driverProbes, func(_, addr string) driverProbe { return probeDriver(pool, addr) }) {
			addr := drivers[job]
			known[addr] = true
			if dead, why := tr.observe(job, addr, r, time.Now()); dead {
				s.driverDied(job, addr, why)
			}
		}
	}
}

// unfinishedDrivers maps each unfinished job with a driver address to it.
func (s *Server) unfinishedDrivers() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for id, j := range s.jobs {
		if !j.Finished && j.DriverAddress != "" {
			out[id] = j.DriverAddress
		}
	}
	return out
}

// probeDriver pings the core worker at addr.
func probeDriver(pool *rpcutil.Pool, addr string) driverProbe {
	ctx, cancel := context.WithTimeout(context.Background(), driverProbeTimeout)
	defer cancel()
	c, err := pool.Get(addr)
	if err != nil {
		return driverAnswered // an address gRPC cannot even parse: nothing to tell
	}
	_, err = rpcpb.NewCoreWorkerClient(c).Ping(ctx, &rpcpb.PingRequest{})
	switch status.Code(err) {
	case codes.Unavailable, codes.DeadlineExceeded:
	default:
		// OK, or an answer from a live server (Unimplemented,
		// Unauthenticated): someone is there.
		return driverAnswered
	}
	// Tell a refused connection (nothing listens: the driver is gone) from
	// no answer at all.
	if rpcutil.Refused(context.Background(), addr, driverProbeTimeout/2) {
		return driverRefused
	}
	return driverSilent
}

// driverDied ends job, whose driver at addr was found dead (why), unless it
// finished or another driver took it over meanwhile.
func (s *Server) driverDied(job, addr, why string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.endJob(ctx, job, addr, why); err != nil {
		s.log.Printf("job %s: its driver at %s died (%s); storing the job's end: %v", job, addr, why, err)
	}
}

// driverDiedEvent records that a job ended because its driver died.
func (s *Server) driverDiedEvent(j *rpcpb.JobInfo, why string) {
	s.log.Printf("job %s: its driver at %s died without ending it (%s); ending the job", j.JobId, j.DriverAddress, why)
	s.events.add(ev.Warning, ev.SourceGCS, "job "+j.JobId+"'s driver at "+j.DriverAddress+" died without ending the job ("+why+
		"): the job is finished and its non-detached actors are killed", map[string]string{"job_id": j.JobId})
}
