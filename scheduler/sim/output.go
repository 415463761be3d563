package sim

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
)

func f4(v float64) string { return strconv.FormatFloat(v, 'f', 4, 64) }

var resultHeader = []string{"name", "jobs", "scheduled", "unschedulable", "preemptions", "attempts", "makespan_s",
	"throughput_per_min", "pending_p50_ms", "pending_p99_ms", "nodes_evaluated_p50", "nodes_evaluated_p99",
	"mean_cpu", "mean_memory", "mean_imbalance", "mean_fragmentation"}

func row(r *Result) []string {
	return []string{r.Name, strconv.Itoa(r.Jobs), strconv.Itoa(r.Scheduled), strconv.Itoa(r.Unschedulable),
		strconv.Itoa(r.Preemptions), strconv.Itoa(r.Attempts), f4(r.Makespan.Seconds()), f4(r.Throughput),
		strconv.FormatInt(r.PendingP50.Milliseconds(), 10), strconv.FormatInt(r.PendingP99.Milliseconds(), 10),
		strconv.Itoa(r.NodesEvaluatedP50), strconv.Itoa(r.NodesEvaluatedP99),
		f4(r.MeanCPU), f4(r.MeanMemory), f4(r.MeanImbalance), f4(r.MeanFragmentation)}
}

// WriteCSV writes one line per result (deterministic fields only).
func WriteCSV(w io.Writer, results []*Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(resultHeader); err != nil {
		return err
	}
	for _, r := range results {
		if err := cw.Write(row(r)); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteSamplesCSV writes every run's utilisation samples.
func WriteSamplesCSV(w io.Writer, results []*Result) error {
	cw := csv.NewWriter(w)
	if err := cw.Write([]string{"name", "at_s", "cpu", "memory", "imbalance", "fragmentation", "running", "pending"}); err != nil {
		return err
	}
	for _, r := range results {
		for _, s := range r.Samples {
			if err := cw.Write([]string{r.Name, f4(s.At.Seconds()), f4(s.CPU), f4(s.Memory), f4(s.Imbalance), f4(s.Fragmentation),
				strconv.Itoa(s.Running), strconv.Itoa(s.Pending)}); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// WriteJSON writes the results (without wall-clock figures) as indented
// JSON.
func WriteJSON(w io.Writer, results []*Result) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(results)
}

// WriteTable prints the runs side by side, one column per candidate. With
// wall true it adds the (non-reproducible) wall-clock decision figures.
func WriteTable(w io.Writer, results []*Result, wall bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	names := []string{"metric"}
	for _, r := range results {
		names = append(names, r.Name)
	}
	fmt.Fprintln(tw, strings.Join(names, "\t")+"\t")
	for i, h := range resultHeader[1:] {
		cols := []string{h}
		for _, r := range results {
			cols = append(cols, row(r)[i+1])
		}
		fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
	}
	if wall {
		for _, m := range []struct {
			name string
			f    func(*Result) string
		}{
			{"wall_decision_p50_us", func(r *Result) string { return strconv.FormatInt(r.Wall.DecisionP50.Microseconds(), 10) }},
			{"wall_decision_p99_us", func(r *Result) string { return strconv.FormatInt(r.Wall.DecisionP99.Microseconds(), 10) }},
			{"wall_decisions_per_s", func(r *Result) string { return strconv.FormatFloat(r.Wall.DecisionsPerSecond, 'f', 0, 64) }},
		} {
			cols := []string{m.name}
			for _, r := range results {
				cols = append(cols, m.f(r))
			}
			fmt.Fprintln(tw, strings.Join(cols, "\t")+"\t")
		}
	}
	return tw.Flush()
}

var palette = []string{"#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"}

// WriteSVG draws CPU utilisation over virtual time, one line per run,
// with a legend.
func WriteSVG(w io.Writer, results []*Result) error {
	const width, height, left, bottom, top, right = 800.0, 400.0, 60.0, 40.0, 20.0, 160.0
	var maxT float64
	for _, r := range results {
		for _, s := range r.Samples {
			maxT = max(maxT, s.At.Seconds())
		}
	}
	if maxT == 0 {
		maxT = 1
	}
	pw, ph := width-left-right, height-top-bottom
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif" font-size="12">`+"\n", int(width), int(height))
	fmt.Fprintf(&b, `<rect width="100%%" height="100%%" fill="white"/>`+"\n")
	fmt.Fprintf(&b, `<text x="%.1f" y="14">CPU requested / allocatable over virtual time</text>`+"\n", left)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", left, top+ph, left+pw, top+ph)
	fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="black"/>`+"\n", left, top, left, top+ph)
	for i := 0; i <= 4; i++ {
		y := top + ph - ph*float64(i)/4
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="end">%d%%</text>`+"\n", left-6, y+4, i*25)
		x := left + pw*float64(i)/4
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" text-anchor="middle">%.0fs</text>`+"\n", x, top+ph+16, maxT*float64(i)/4)
	}
	for i, r := range results {
		color := palette[i%len(palette)]
		var pts []string
		for _, s := range r.Samples {
			pts = append(pts, fmt.Sprintf("%.1f,%.1f", left+pw*s.At.Seconds()/maxT, top+ph-ph*s.CPU))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>`+"\n", color, strings.Join(pts, " "))
		ly := top + 20 + float64(i)*18
		fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="12" height="12" fill="%s"/>`+"\n", left+pw+12, ly-10, color)
		fmt.Fprintf(&b, `<text x="%.1f" y="%.1f">%s</text>`+"\n", left+pw+30, ly, escape(r.Name))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

func escape(s string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(s)
}
