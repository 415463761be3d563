package sim

import (
	"bufio"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Job is one pod in a trace: when it arrives, what it requests, how long
// it runs once placed, its priority, labels and node selector.
type Job struct {
	Name         string            `json:"name"`
	Arrival      time.Duration     `json:"arrival"`
	MilliCPU     int64             `json:"milliCPU"`
	MemoryMiB    int64             `json:"memoryMiB"`
	Duration     time.Duration     `json:"duration"`
	Priority     int32             `json:"priority,omitempty"`
	Labels       map[string]string `json:"labels,omitempty"`
	NodeSelector map[string]string `json:"nodeSelector,omitempty"`
}

// Trace is jobs sorted by arrival.
type Trace []Job

// csvHeader is the CSV trace format; labels and nodeSelector are
// "k=v;k=v".
var csvHeader = []string{"name", "arrival_ms", "cpu_m", "memory_mi", "duration_ms", "priority", "labels", "node_selector"}

func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + m[k]
	}
	return strings.Join(parts, ";")
}

func parseMap(s string) (map[string]string, error) {
	if s == "" {
		return nil, nil
	}
	m := map[string]string{}
	for _, kv := range strings.Split(s, ";") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("%q: want key=value", kv)
		}
		m[k] = v
	}
	return m, nil
}

// WriteCSV writes the trace as CSV with a header.
func (t Trace) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for _, j := range t {
		if err := cw.Write([]string{j.Name, strconv.FormatInt(j.Arrival.Milliseconds(), 10), strconv.FormatInt(j.MilliCPU, 10),
			strconv.FormatInt(j.MemoryMiB, 10), strconv.FormatInt(j.Duration.Milliseconds(), 10), strconv.Itoa(int(j.Priority)),
			formatMap(j.Labels), formatMap(j.NodeSelector)}); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// ReadCSV reads a trace written by WriteCSV.
func ReadCSV(r io.Reader) (Trace, error) {
	cr := csv.NewReader(r)
	rows, err := cr.ReadAll()
	if err != nil {
		return nil, fmt.Errorf("trace csv: %w", err)
	}
	if len(rows) == 0 || strings.Join(rows[0], ",") != strings.Join(csvHeader, ",") {
		return nil, errors.New("trace csv: missing header " + strings.Join(csvHeader, ","))
	}
	var t Trace
	for i, row := range rows[1:] {
		var nums [5]int64
		for k, col := range []int{1, 2, 3, 4, 5} {
			if nums[k], err = strconv.ParseInt(row[col], 10, 64); err != nil {
				return nil, fmt.Errorf("trace csv line %d: %s: %w", i+2, csvHeader[col], err)
			}
		}
		lbl, err := parseMap(row[6])
		if err != nil {
			return nil, fmt.Errorf("trace csv line %d: labels: %w", i+2, err)
		}
		sel, err := parseMap(row[7])
		if err != nil {
			return nil, fmt.Errorf("trace csv line %d: node_selector: %w", i+2, err)
		}
		t = append(t, Job{Name: row[0], Arrival: time.Duration(nums[0]) * time.Millisecond, MilliCPU: nums[1], MemoryMiB: nums[2],
			Duration: time.Duration(nums[3]) * time.Millisecond, Priority: int32(nums[4]), Labels: lbl, NodeSelector: sel})
	}
	t.sort()
	return t, nil
}

// WriteJSONL writes one JSON object per line.
func (t Trace) WriteJSONL(w io.Writer) error {
	enc := json.NewEncoder(w)
	for _, j := range t {
		if err := enc.Encode(j); err != nil {
			return err
		}
	}
	return nil
}

// ReadJSONL reads a trace written by WriteJSONL.
func ReadJSONL(r io.Reader) (Trace, error) {
	var t Trace
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if strings.TrimSpace(sc.Text()) == "" {
			continue
		}
		var j Job
		if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
			return nil, fmt.Errorf("trace jsonl line %d: %w", n, err)
		}
		t = append(t, j)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("trace jsonl: %w", err)
	}
	t.sort()
	return t, nil
}

func (t Trace) sort() {
	sort.SliceStable(t, func(i, j int) bool { return t[i].Arrival < t[j].Arrival })
}

// GenerateOptions shape a synthetic workload.
type GenerateOptions struct {
	// Jobs is the number of jobs (default 1000).
	Jobs int
	// MeanInterarrival is the mean of the exponential gaps (default 100ms).
	MeanInterarrival time.Duration
	// MeanDuration is the mean of the exponential run times (default 60s).
	MeanDuration time.Duration
	// CPUChoices and MemoryMiBChoices are drawn uniformly (defaults
	// 100m..2000m and 256..4096 MiB).
	CPUChoices, MemoryMiBChoices []int64
	// HighPriorityShare is the share of jobs with priority 1000 (others 0).
	HighPriorityShare float64
}

// Generate returns a synthetic trace; the same seed and options give the
// same trace.
func Generate(seed uint64, o GenerateOptions) Trace {
	if o.Jobs <= 0 {
		o.Jobs = 1000
	}
	if o.MeanInterarrival <= 0 {
		o.MeanInterarrival = 100 * time.Millisecond
	}
	if o.MeanDuration <= 0 {
		o.MeanDuration = time.Minute
	}
	if len(o.CPUChoices) == 0 {
		o.CPUChoices = []int64{100, 250, 500, 1000, 2000}
	}
	if len(o.MemoryMiBChoices) == 0 {
		o.MemoryMiBChoices = []int64{256, 512, 1024, 2048, 4096}
	}
	r := rand.New(rand.NewPCG(seed, 0x7ace))
	t := make(Trace, o.Jobs)
	var at time.Duration
	for i := range t {
		at += time.Duration(r.ExpFloat64() * float64(o.MeanInterarrival)).Round(time.Millisecond)
		d := time.Duration(r.ExpFloat64() * float64(o.MeanDuration)).Round(time.Millisecond)
		if d < time.Second {
			d = time.Second
		}
		var prio int32
		if r.Float64() < o.HighPriorityShare {
			prio = 1000
		}
		t[i] = Job{Name: fmt.Sprintf("job-%05d", i), Arrival: at, MilliCPU: o.CPUChoices[r.IntN(len(o.CPUChoices))],
			MemoryMiB: o.MemoryMiBChoices[r.IntN(len(o.MemoryMiBChoices))], Duration: d, Priority: prio}
	}
	return t
}
