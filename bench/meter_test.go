package bench

import (
	"runtime"
	"runtime/metrics"
	"testing"
	"time"
)

// meter adds per-unit figures to a benchmark whose op covers several units
// (rows of a result, queries of a pipeline): ns/<unit>, allocs/<unit> and
// B/<unit>, from the benchmark's own clock and runtime.MemStats around the
// b.Loop loop, and cpu-ns/<unit> (cpu-ns/op without a unit), the process's
// CPU time: on a shared machine wall time also counts the time the
// benchmark waited for a CPU, CPU time does not. Create it right before the
// loop and call done right after.
type meter struct {
	b         *testing.B
	unit      string
	perOp     int
	ops       int
	start     runtime.MemStats
	cpuStart  time.Duration
	cpuOK     bool
	heapBase  uint64
	heapPeak  uint64
	heapProbe []metrics.Sample
	rate      bool // report <unit>s/s too
}

// newMeter reports allocations, sets the bytes per op (0: none) and
// starts counting. perOp is the number of units in one op; with unit ""
// only the standard per-op figures are reported.
func newMeter(b *testing.B, unit string, perOp, bytesPerOp int) *meter {
	b.ReportAllocs()
	if bytesPerOp > 0 {
		b.SetBytes(int64(bytesPerOp))
	}
	m := &meter{b: b, unit: unit, perOp: perOp}
	m.begin()
	return m
}

// begin takes the starting readings.
func (m *meter) begin() {
	runtime.ReadMemStats(&m.start)
	m.cpuStart, m.cpuOK = processCPUTime()
}

// op counts one op; call it once per loop iteration.
func (m *meter) op() { m.ops++ }

// watchHeap starts tracking the peak heap: it collects garbage, takes the
// live heap as the base, and from then on probeHeap samples the bytes of
// heap objects (live and not yet swept).
func (m *meter) watchHeap() {
	m.heapProbe = []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	// The process's first metrics.Read builds runtime/metrics' tables
	// (about 19 KiB on the heap): done before the base is taken, or it is
	// charged to whichever client is measured first.
	metrics.Read(m.heapProbe)
	runtime.GC()
	metrics.Read(m.heapProbe)
	m.heapBase = m.heapProbe[0].Value.Uint64()
	m.heapPeak = m.heapBase
	m.begin()
}

// probeHeap samples the heap (after watchHeap); cheap enough to call every
// few tens of thousands of rows.
func (m *meter) probeHeap() {
	metrics.Read(m.heapProbe)
	if v := m.heapProbe[0].Value.Uint64(); v > m.heapPeak {
		m.heapPeak = v
	}
}

// reportRate makes done report the throughput in units per second too
// (rows/s for the unit "row").
func (m *meter) reportRate() { m.rate = true }

// done reports the per-unit metrics.
func (m *meter) done() {
	cpuEnd, cpuOK := processCPUTime()
	var end runtime.MemStats
	runtime.ReadMemStats(&end)
	units := float64(m.ops) * float64(m.perOp)
	if units == 0 {
		return
	}
	ns := float64(m.b.Elapsed().Nanoseconds())
	if cpuOK && m.cpuOK {
		cpuUnit := "cpu-ns/op"
		perUnit := float64(m.ops)
		if m.unit != "" {
			cpuUnit, perUnit = "cpu-ns/"+m.unit, units
		}
		m.b.ReportMetric(float64((cpuEnd-m.cpuStart).Nanoseconds())/perUnit, cpuUnit)
	}
	if m.unit != "" {
		m.b.ReportMetric(ns/units, "ns/"+m.unit)
		m.b.ReportMetric(float64(end.Mallocs-m.start.Mallocs)/units, "allocs/"+m.unit)
		m.b.ReportMetric(float64(end.TotalAlloc-m.start.TotalAlloc)/units, "B/"+m.unit)
	}
	if m.rate && m.unit != "" && ns > 0 {
		m.b.ReportMetric(units/(ns/1e9), m.unit+"s/s")
	}
	if m.heapProbe != nil {
		m.b.ReportMetric(float64(m.heapPeak-m.heapBase)/(1<<10), "peak-heap-KiB")
	}
}
