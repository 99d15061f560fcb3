package planner

import (
	"fmt"

	"github.com/goray-dev/goray/runtime/scheduler"
)

// gang plans a pending placement group by its strategy: STRICT_PACK needs
// one node for the sum of its bundles, STRICT_SPREAD one distinct node per
// bundle, PACK keeps bundles together when it can, SPREAD apart when it can.
func (s *planState) gang(g Gang) {
	bundles := make([]Resources, 0, len(g.Bundles))
	for _, b := range g.Bundles {
		if p := positive(b); len(p) > 0 {
			bundles = append(bundles, p)
		}
	}
	if len(bundles) == 0 {
		return
	}
	if g.Strategy == scheduler.StrictPack {
		sum := Resources{}
		for _, b := range bundles {
			b.AddTo(sum)
		}
		bundles = []Resources{sum}
	}
	for _, b := range bundles {
		if !s.feasible(b) {
			s.d.InfeasibleGangs = append(s.d.InfeasibleGangs, g)
			s.d.Reasons = append(s.d.Reasons, fmt.Sprintf("infeasible placement group %s: no worker group can hold {%s}", g, b.Key()))
			return
		}
	}
	key := fmt.Sprintf("placement group %s", g.ID)
	taken := map[*bin]bool{} // bins holding a bundle of this group
	var last *bin
	for i, b := range bundles {
		var got *bin
		switch g.Strategy {
		case scheduler.StrictSpread:
			got = place(s.bins, b, taken)
		case scheduler.SpreadPG:
			if got = place(s.bins, b, taken); got == nil {
				got = place(s.bins, b, nil)
			}
		default: // PACK, STRICT_PACK (one bundle)
			if last != nil && b.Fits(last.avail) {
				got = place([]*bin{last}, b, nil)
			} else {
				got = place(s.bins, b, nil)
			}
		}
		if got == nil {
			rest := bundles[i:]
			if g.Strategy == scheduler.StrictSpread || g.Strategy == scheduler.SpreadPG {
				rest = rest[:1] // each bundle gets its own node
			}
			if t := s.chooseType(rest); t != nil {
				got = place(s.launch(t, key), b, nil)
			}
		}
		if got == nil {
			addReq(s.unmet, b, 1)
			continue
		}
		taken[got] = true
		last = got
	}
}
