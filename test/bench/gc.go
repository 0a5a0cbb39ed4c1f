package bench

import (
	"regexp"
	"slices"
	"strconv"
	"time"
)

// gcTrace matches a GODEBUG=gctrace=1 line's wall-clock phases: "gc N
// @T s P%: A+B+C ms clock", where A (sweep termination) and C (mark
// termination) stop the world and B is the concurrent mark.
var gcTrace = regexp.MustCompile(`(?m)^gc \d+ @[0-9.]+s \d+%: ([0-9.]+)\+([0-9.]+)\+([0-9.]+) ms clock`)

// gcStats summarises the collections a gctrace log reports.
type gcStats struct {
	cycles    int
	pauseP99  time.Duration // stop-the-world time of one cycle (both pauses)
	markP99   time.Duration // its concurrent mark phase
	pauseMax  time.Duration
	totalMark time.Duration
}

func parseGCTrace(log string) gcStats {
	var pauses, marks []time.Duration
	for _, m := range gcTrace.FindAllStringSubmatch(log, -1) {
		ms := func(s string) time.Duration {
			f, _ := strconv.ParseFloat(s, 64)
			return time.Duration(f * float64(time.Millisecond))
		}
		pauses = append(pauses, ms(m[1])+ms(m[3]))
		marks = append(marks, ms(m[2]))
	}
	st := gcStats{cycles: len(pauses)}
	if len(pauses) == 0 {
		return st
	}
	slices.Sort(pauses)
	slices.Sort(marks)
	p99 := func(d []time.Duration) time.Duration { return d[min(len(d)-1, len(d)*99/100)] }
	st.pauseP99, st.markP99, st.pauseMax = p99(pauses), p99(marks), pauses[len(pauses)-1]
	for _, m := range marks {
		st.totalMark += m
	}
	return st
}
