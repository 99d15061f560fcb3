package raycronjob

import (
	"testing"
	"time"

	"k8s.io/utils/ptr"
)

func TestDueTime(t *testing.T) {
	at := func(s string) time.Time {
		v, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	tests := []struct {
		name, expr, tz, since, now string
		wantDue, wantNext          string
	}{
		{"nothing due yet", "*/5 * * * *", "UTC", "2026-01-01T10:00:00Z", "2026-01-01T10:04:59Z", "", "2026-01-01T10:05:00Z"},
		{"one due", "*/5 * * * *", "UTC", "2026-01-01T10:00:00Z", "2026-01-01T10:05:30Z", "2026-01-01T10:05:00Z", "2026-01-01T10:10:00Z"},
		{"several missed: the latest", "*/5 * * * *", "UTC", "2026-01-01T10:00:00Z", "2026-01-01T10:31:00Z", "2026-01-01T10:30:00Z", "2026-01-01T10:35:00Z"},
		{"time zone", "0 9 * * *", "America/New_York", "2026-01-01T00:00:00Z", "2026-01-01T14:30:00Z", "2026-01-01T14:00:00Z", "2026-01-02T14:00:00Z"},
		{"long outage", "* * * * *", "UTC", "2025-01-01T00:00:00Z", "2026-01-01T10:31:30Z", "2026-01-01T10:31:00Z", "2026-01-01T10:32:00Z"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, loc, err := parseSchedule(tt.expr, ptr.To(tt.tz))
			if err != nil {
				t.Fatal(err)
			}
			due, next := dueTime(s, loc, at(tt.since), at(tt.now))
			if tt.wantDue == "" && !due.IsZero() || tt.wantDue != "" && !due.Equal(at(tt.wantDue)) {
				t.Errorf("due = %v, want %s", due, tt.wantDue)
			}
			if !next.Equal(at(tt.wantNext)) {
				t.Errorf("next = %v, want %s", next, tt.wantNext)
			}
		})
	}
}

func TestParseScheduleErrorsNameTheField(t *testing.T) {
	if _, _, err := parseSchedule("every minute", nil); err == nil || err.Error()[:13] != "spec.schedule" {
		t.Errorf("bad schedule: %v", err)
	}
	if _, _, err := parseSchedule("* * * * *", ptr.To("Mars/Olympus")); err == nil || err.Error()[:13] != "spec.timeZone" {
		t.Errorf("bad time zone: %v", err)
	}
}

func TestJobNameIsStablePerScheduleTime(t *testing.T) {
	a := time.Date(2026, 1, 1, 10, 5, 0, 0, time.UTC)
	if jobName("nightly", a) != jobName("nightly", a.Add(30*time.Second)) || jobName("nightly", a) == jobName("nightly", a.Add(time.Minute)) {
		t.Error("names must be equal within a minute and differ across minutes")
	}
}
