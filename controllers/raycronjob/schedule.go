package raycronjob

import (
	"fmt"
	"time"

	"github.com/robfig/cron/v3"
)

// maxMissedToCount bounds the walk over missed schedule times: after a long
// outage only the most recent one is run, as a Kubernetes CronJob does.
const maxMissedToCount = 1000

// parseSchedule parses a standard five-field cron expression (or a
// descriptor such as @hourly) in the given time zone.
func parseSchedule(expr string, tz *string) (cron.Schedule, *time.Location, error) {
	loc := time.Local
	if tz != nil && *tz != "" {
		l, err := time.LoadLocation(*tz)
		if err != nil {
			return nil, nil, fmt.Errorf("spec.timeZone %q is not a known IANA time zone: %w", *tz, err)
		}
		loc = l
	}
	s, err := cron.ParseStandard(expr)
	if err != nil {
		return nil, nil, fmt.Errorf("spec.schedule %q is not a valid cron expression: %w", expr, err)
	}
	return s, loc, nil
}

// dueTime is the most recent schedule time in (since, now], or zero if none
// is due, and the next schedule time after now.
func dueTime(s cron.Schedule, loc *time.Location, since, now time.Time) (due, next time.Time) {
	t := s.Next(since.In(loc))
	for i := 0; !t.After(now) && i < maxMissedToCount; i++ {
		due = t
		t = s.Next(t)
	}
	if !t.After(now) {
		// Too many missed: jump to the latest one before now.
		due = latestBefore(s, loc, now)
		t = s.Next(now.In(loc))
	}
	return due, t
}

// latestBefore finds the last schedule time not after now by walking back
// in growing windows.
func latestBefore(s cron.Schedule, loc *time.Location, now time.Time) time.Time {
	for window := time.Hour; window < 400*24*time.Hour; window *= 2 {
		var last time.Time
		for t := s.Next(now.Add(-window).In(loc)); !t.After(now); t = s.Next(t) {
			last = t
		}
		if !last.IsZero() {
			return last
		}
	}
	return time.Time{}
}

// jobName is the name of the RayJob for a schedule time: the cron's name
// and the time in Unix minutes, so a retried reconcile never creates two.
func jobName(cronName string, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cronName, scheduled.Unix()/60)
}
