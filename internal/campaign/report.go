package campaign

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is a campaign's outcome, ready to print.
type Report struct {
	Plans   []*Plan
	Results []Result
	Elapsed time.Duration
	Workers int
}

// Count tallies the results by outcome.
func (rep *Report) Count() map[Outcome]int {
	n := map[Outcome]int{}
	for i := range rep.Results {
		n[rep.Results[i].Outcome()]++
	}
	return n
}

// Misses are the results whose outcome is Miss.
func (rep *Report) Misses() []*Result { return rep.filter(Miss) }

// Failures are the results whose outcome is Failed.
func (rep *Report) Failures() []*Result { return rep.filter(Failed) }

func (rep *Report) filter(o Outcome) []*Result {
	var out []*Result
	for i := range rep.Results {
		if rep.Results[i].Outcome() == o {
			out = append(out, &rep.Results[i])
		}
	}
	return out
}

// row is one line of the object x verb table.
type row struct {
	cases, unchanged, rejected, failed, repair, ours, miss, extra int
}

func (r *row) add(res *Result) {
	r.cases++
	switch res.Outcome() {
	case Unchanged:
		r.unchanged++
	case Rejected:
		r.rejected++
	case Failed:
		r.failed++
	case Miss:
		r.miss++
	case Extra:
		r.extra++
	}
	if res.Changed && res.RepairErr == nil && res.RepairDetected {
		r.repair++
	}
	if res.Changed && res.OurDetected {
		r.ours++
	}
}

// Write prints the table (per profile, object and verb: cases, unchanged
// by the fuzz, rejected by xfs_db, failed, detected by xfs_repair -n,
// detected by us, misses, extras), then every miss with xfs_repair's
// complaint and our codes, the extras grouped by our finding code, the
// failures, and what the enumeration noted or rejected.
func (rep *Report) Write(w io.Writer) {
	n := rep.Count()
	var total time.Duration
	for i := range rep.Results {
		total += rep.Results[i].Duration
	}
	fmt.Fprintf(w, "xfsbox corruption campaign: %d cases", len(rep.Results))
	if rep.Elapsed > 0 {
		fmt.Fprintf(w, " in %v on %d worker(s)", rep.Elapsed.Round(time.Second), rep.Workers)
	}
	if len(rep.Results) > 0 {
		fmt.Fprintf(w, ", %v per case on one worker", (total / time.Duration(len(rep.Results))).Round(time.Millisecond))
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "outcomes: %d both, %d neither, %d extra, %d MISS, %d unchanged, %d rejected, %d failed\n",
		n[Both], n[Neither], n[Extra], n[Miss], n[Unchanged], n[Rejected], n[Failed])
	rep.writeRepairs(w)

	rep.writeTable(w)
	rep.writeMisses(w)
	rep.writeNoted(w)
	rep.writeExtras(w)
	rep.writeFailures(w)
	rep.writeNotes(w)
}

func (rep *Report) writeTable(w io.Writer) {
	type key struct{ profile, object, verb string }
	rows := map[key]*row{}
	var keys []key
	objOrder := map[string]int{}
	for _, p := range rep.Plans {
		for i, o := range p.Objects {
			if _, ok := objOrder[o.Name]; !ok {
				objOrder[o.Name] = i
			}
		}
	}
	verbOrder := map[string]int{}
	for i, v := range Verbs {
		verbOrder[v] = i
	}
	profOrder := map[string]int{}
	for i := range rep.Results {
		r := &rep.Results[i]
		if _, ok := profOrder[r.Profile]; !ok {
			profOrder[r.Profile] = len(profOrder)
		}
		k := key{r.Profile, r.Object, r.Verb}
		if rows[k] == nil {
			rows[k] = &row{}
			keys = append(keys, k)
		}
		rows[k].add(r)
	}
	sort.Slice(keys, func(i, j int) bool {
		a, b := keys[i], keys[j]
		if a.profile != b.profile {
			return profOrder[a.profile] < profOrder[b.profile]
		}
		if a.object != b.object {
			if objOrder[a.object] != objOrder[b.object] {
				return objOrder[a.object] < objOrder[b.object]
			}
			return a.object < b.object
		}
		return verbOrder[a.verb] < verbOrder[b.verb]
	})
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "profile\tobject\tverb\tcases\tunchanged\trejected\tfailed\txfs_repair\tus\tmisses\textras\t")
	var sum row
	prev := ""
	for _, k := range keys {
		r := rows[k]
		name := k.profile + "\t" + k.object
		if prev == name {
			name = "\t"
		} else {
			prev = name
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n", name, k.verb,
			r.cases, r.unchanged, r.rejected, r.failed, r.repair, r.ours, r.miss, r.extra)
		sum.cases += r.cases
		sum.unchanged += r.unchanged
		sum.rejected += r.rejected
		sum.failed += r.failed
		sum.repair += r.repair
		sum.ours += r.ours
		sum.miss += r.miss
		sum.extra += r.extra
	}
	fmt.Fprintf(tw, "total\t\t\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t\n",
		sum.cases, sum.unchanged, sum.rejected, sum.failed, sum.repair, sum.ours, sum.miss, sum.extra)
	tw.Flush()
	fmt.Fprintln(w)
}

func (rep *Report) writeMisses(w io.Writer) {
	ms := rep.Misses()
	fmt.Fprintf(w, "MISSES (xfs_repair -n detected, we did not): %d\n", len(ms))
	for _, r := range ms {
		fmt.Fprintln(w, MissText(r))
	}
	fmt.Fprintln(w)
}

// MissText describes a miss: the case, the fuzzed value, how to
// reproduce it, xfs_repair's complaint and what we reported.
func MissText(r *Result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "- %s  (%s)\n", r.Case, r.Value)
	fmt.Fprintf(&b, "    reproduce: %s\n", reproduce(r))
	fmt.Fprintf(&b, "    xfs_repair -n:\n")
	for _, l := range Complaint(r.RepairOutput, 6) {
		fmt.Fprintf(&b, "      | %s\n", l)
	}
	if r.OurErr != nil {
		fmt.Fprintf(&b, "    our check failed: %v\n", r.OurErr)
	}
	codes := "(none)"
	if len(r.Codes) > 0 {
		codes = strings.Join(r.Codes, " ")
	}
	fmt.Fprintf(&b, "    our codes: %s", codes)
	return b.String()
}

// reproduce is the xfs_db command that recreates the corruption; a
// random fuzz is replayed with `write -d` and the value it wrote.
func reproduce(r *Result) string {
	c := r.Case
	if c.Verb == "random" {
		if _, v, ok := strings.Cut(r.Value, " = "); ok && !strings.Contains(v, "[") {
			var b strings.Builder
			b.WriteString("xfs_db -x")
			for _, n := range c.Nav {
				fmt.Fprintf(&b, " -c '%s'", n)
			}
			fmt.Fprintf(&b, " -c 'write -d %s %s' IMAGE", c.Field, strings.Fields(v)[0])
			return b.String()
		}
	}
	return c.Command("IMAGE")
}

// writeNoted lists the cases xfs_repair -n complained about but passed
// (exit 0) and we did not detect: not misses by the rule, worth a look.
func (rep *Report) writeNoted(w io.Writer) {
	var list []*Result
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Outcome() == Neither && r.RepairNoted {
			list = append(list, r)
		}
	}
	fmt.Fprintf(w, "SOFT MISSES (xfs_repair -n complained but exited 0; we found nothing): %d\n", len(list))
	for _, r := range list {
		fmt.Fprintf(w, "- %s  (%s): %s\n", r.Case, r.Value, strings.Join(Complaint(r.RepairOutput, 2), " | "))
	}
	fmt.Fprintln(w)
}

func (rep *Report) writeExtras(w io.Writer) {
	type group struct {
		code    string
		n       int
		objects map[string]int
		example []string
	}
	groups := map[string]*group{}
	extras := rep.filter(Extra)
	for _, r := range extras {
		codes := r.Codes
		if len(codes) == 0 {
			codes = []string{"(no code)"}
		}
		for _, c := range codes {
			g := groups[c]
			if g == nil {
				g = &group{code: c, objects: map[string]int{}}
				groups[c] = g
			}
			g.n++
			g.objects[r.Object]++
			if len(g.example) < 3 {
				g.example = append(g.example, fmt.Sprintf("%s %s %s %s", r.Profile, r.Object, r.Field, r.Verb))
			}
		}
	}
	list := make([]*group, 0, len(groups))
	for _, g := range groups {
		list = append(list, g)
	}
	sort.Slice(list, func(i, j int) bool {
		if list[i].n != list[j].n {
			return list[i].n > list[j].n
		}
		return list[i].code < list[j].code
	})
	fmt.Fprintf(w, "EXTRAS (we detected, xfs_repair -n did not): %d cases, by our finding code (a case counts under each of its codes)\n", len(extras))
	for _, g := range list {
		var objs []string
		for o, k := range g.objects {
			objs = append(objs, fmt.Sprintf("%s:%d", o, k))
		}
		sort.Strings(objs)
		fmt.Fprintf(w, "  %-28s %5d  objects %s\n", g.code, g.n, strings.Join(objs, " "))
		fmt.Fprintf(w, "  %-28s        e.g. %s\n", "", strings.Join(g.example, "; "))
	}
	fmt.Fprintln(w)
}

func (rep *Report) writeFailures(w io.Writer) {
	fs := rep.Failures()
	fmt.Fprintf(w, "FAILED cases (could not be judged): %d\n", len(fs))
	for _, r := range fs {
		msg := fmt.Sprint(r.Err())
		if i := strings.IndexByte(msg, '\n'); i >= 0 {
			msg = msg[:i] + " ..."
		}
		fmt.Fprintf(w, "- %s: %s\n", r.Case, msg)
	}
	fmt.Fprintln(w)
}

func (rep *Report) writeNotes(w io.Writer) {
	for _, p := range rep.Plans {
		fmt.Fprintf(w, "%s, AG %d: %d objects, %d cases\n", p.Profile, p.AG, len(p.Objects), len(p.Cases))
		for _, o := range p.Objects {
			fmt.Fprintf(w, "  %-14s %3d fields  bytes %d+%d  nav %q\n", o.Name, len(p.Fields[o.Name]), o.Offset, o.Length, o.Nav)
		}
		for _, note := range p.Notes {
			fmt.Fprintf(w, "  note: %s\n", note)
		}
		// Group the rejections: the same field and verb refused the same
		// way on many objects is one line.
		type rk struct{ field, verb, why string }
		var order []rk
		objs := map[rk][]string{}
		for _, r := range p.Rejected {
			k := rk{r.Field, r.Verb, r.Why}
			if objs[k] == nil {
				order = append(order, k)
			}
			objs[k] = append(objs[k], r.Object)
		}
		for _, k := range order {
			what := k.field
			if k.verb != "" {
				what += " " + k.verb
			}
			fmt.Fprintf(w, "  xfs_db rejects %s (%s): %s\n", what, strings.Join(objs[k], " "), k.why)
		}
	}
	var rej []string
	for _, r := range rep.filter(Rejected) {
		rej = append(rej, r.Case.String())
	}
	if len(rej) > 0 {
		fmt.Fprintf(w, "fuzz commands xfs_db rejected: %s\n", strings.Join(rej, ", "))
	}
}

// writeRepairs summarises what the repair hook did: cases repaired clean
// (our check and xfs_repair -n), how many of those the kernel judged too,
// and where the repairs took their used space from.
func (rep *Report) writeRepairs(w io.Writer) {
	outcome, source := map[string]int{}, map[string]int{}
	for i := range rep.Results {
		r := &rep.Results[i]
		if r.Extra == nil {
			continue
		}
		outcome[r.Extra["repair"]]++
		if s := r.Extra["source"]; s != "" {
			source[s]++
		}
	}
	repaired := outcome[RepairClean] + outcome[RepairVerified]
	if repaired == 0 {
		fmt.Fprintln(w)
		return
	}
	fmt.Fprintf(w, "repairs: %d repaired clean (our check and xfs_repair -n), %d of them also judged by the kernel (mount, every sha256, write workload, xfs_repair -n again)", repaired, outcome[RepairVerified])
	var srcs []string
	for s, k := range source {
		srcs = append(srcs, fmt.Sprintf("%d from the %s", k, s))
	}
	sort.Strings(srcs)
	if len(srcs) > 0 {
		fmt.Fprintf(w, "; used space: %s", strings.Join(srcs, ", "))
	}
	fmt.Fprint(w, "\n\n")
}
