import { describe, expect, it } from "vitest";
import { parseDomjobinfoRaw, progressOf } from "./domjobinfo.parser.js";

// As libvirt 9.0's `virsh domjobinfo --rawstats` printed them on the source of a live migration
// of the 256 MiB test guest (test/libvirt/libvirt-migration.test.ts), trimmed of nothing.
const RUNNING = `Job type: 2

operation: 5
time_elapsed: 699
downtime: 300
setup_time: 1
data_total: 268967936
data_processed: 211470
data_remaining: 267780096
memory_total: 268967936
memory_processed: 211470
memory_remaining: 267780096
memory_constant: 239
memory_normal: 51
memory_normal_bytes: 208896
memory_dirty_rate: 0
memory_iteration: 1
memory_postcopy_requests: 0
memory_page_size: 4096
disk_total: 0
disk_processed: 0
disk_remaining: 0
`;

const COMPLETED = `Job type: 3

operation: 5
time_elapsed: 2283
time_elapsed_net: 2271
downtime: 292
downtime_net: 280
setup_time: 1
data_total: 268967936
data_processed: 102904125
data_remaining: 0
memory_total: 268967936
memory_processed: 102904125
memory_remaining: 0
memory_bps: 87329947
memory_constant: 41066
memory_normal: 24984
memory_normal_bytes: 102334464
memory_dirty_rate: 0
memory_iteration: 3
memory_postcopy_requests: 0
memory_page_size: 4096
disk_total: 0
disk_processed: 0
disk_remaining: 0
`;

describe("parseDomjobinfoRaw", () => {
  it("reads a running migration's progress; its downtime is QEMU's expectation", () => {
    const j = parseDomjobinfoRaw(RUNNING);
    expect(j).toMatchObject({
      type: "unbounded", operation: "5", elapsedMs: 699,
      dataTotalBytes: 268967936, dataProcessedBytes: 211470, dataRemainingBytes: 267780096,
      dirtyRatePagesPerSec: 0, iteration: 1, expectedDowntimeMs: 300, downtimeMs: undefined,
      memoryBandwidthBps: undefined,
    });
    expect(progressOf(j)).toEqual({
      elapsedMs: 699, dataProcessedBytes: 211470, dataRemainingBytes: 267780096, dataTotalBytes: 268967936,
      dirtyRatePagesPerSec: 0, memoryBandwidthBps: undefined, expectedDowntimeMs: 300, iteration: 1,
    });
  });

  it("reads a completed migration: its downtime is the measured one", () => {
    const j = parseDomjobinfoRaw(COMPLETED);
    expect(j).toMatchObject({
      type: "completed", elapsedMs: 2283, downtimeMs: 292, expectedDowntimeMs: undefined,
      dataProcessedBytes: 102904125, dataRemainingBytes: 0, memoryBandwidthBps: 87329947, iteration: 3,
    });
  });

  it("reads the job type by name too, and no job at all", () => {
    expect(parseDomjobinfoRaw("Job type:         None        \n").type).toBe("none");
    expect(parseDomjobinfoRaw("Job type: 0\n\n").type).toBe("none");
    expect(parseDomjobinfoRaw("Job type:         Completed   \n").type).toBe("completed");
    expect(parseDomjobinfoRaw("Job type: 4\n").type).toBe("failed");
    expect(parseDomjobinfoRaw("Job type: 9\n").type).toBe("unknown");
    expect(parseDomjobinfoRaw("").type).toBe("unknown");
  });

  it("keeps a failed job's message and success flag; ignores unknown and malformed lines", () => {
    const j = parseDomjobinfoRaw("Job type: 4\n\nsuccess: no\nerrmsg: operation aborted: migration out: canceled by client\nfuture_field: 7\ngarbage\ndata_total: n/a\n");
    expect(j).toMatchObject({ type: "failed", success: false, errorMessage: "operation aborted: migration out: canceled by client", dataTotalBytes: undefined });
  });
});
