import { describe, expect, it } from "vitest";
import { parseNodeList, parsePodList, podGpuDemandMilli } from "./trace-csv.js";
import { traceGpuDemand, traceRequest, traceSnapshot } from "./trace-mapping.js";

const NODES = "sn,cpu_milli,memory_mib,gpu,model\nn-0,96000,393216,8,G2\nn-1,32000,131072,0,\n";
const PODS11 = [
  "name,cpu_milli,memory_mib,num_gpu,gpu_milli,gpu_spec,qos,pod_phase,creation_time,deletion_time,scheduled_time",
  "p-0,12000,16384,1,1000,,LS,Running,0,12537496,0",
  "p-1,6000,12288,1,460,V100M16|V100M32,LS,Running,427061,12902960,427061",
  "p-2,88000,65536,8,1000,,LS,Running,1,2,",
  "p-3,3152,0,0,0,,BE,Pending,5,12902960,",
].join("\n");
const PODS5 = "name,cpu_milli,memory_mib,num_gpu,gpu_milli\np-0,4000,8192,2,1000\r\np-1,2000,4096,1,230\r\n";

describe("trace CSV readers", () => {
  it("reads the node list", () => {
    expect(parseNodeList(NODES)).toEqual([
      { name: "n-0", cpuMilli: 96000, memoryMib: 393216, gpuCount: 8, gpuModel: "G2" },
      { name: "n-1", cpuMilli: 32000, memoryMib: 131072, gpuCount: 0, gpuModel: "" },
    ]);
  });

  it("reads the 11-column pod list, splitting gpu_spec into models", () => {
    const pods = parsePodList(PODS11);
    expect(pods).toHaveLength(4);
    expect(pods[1]).toEqual({ name: "p-1", cpuMilli: 6000, memoryMib: 12288, numGpu: 1, gpuMilli: 460, gpuModels: ["V100M16", "V100M32"] });
    expect(pods[3]!.gpuModels).toEqual([]);
  });

  it("reads the 5-column multigpu layout (CRLF too)", () => {
    expect(parsePodList(PODS5)).toEqual([
      { name: "p-0", cpuMilli: 4000, memoryMib: 8192, numGpu: 2, gpuMilli: 1000, gpuModels: [] },
      { name: "p-1", cpuMilli: 2000, memoryMib: 4096, numGpu: 1, gpuMilli: 230, gpuModels: [] },
    ]);
  });

  it("rejects a missing column and a bad number", () => {
    expect(() => parsePodList("name,cpu_milli,memory_mib,num_gpu\np,1,2,3")).toThrow(/gpu_milli/);
    expect(() => parseNodeList("sn,cpu_milli,memory_mib,gpu,model\nn,abc,1,1,T4")).toThrow(/cpu_milli/);
  });

  it("counts GPU demand as the paper does", () => {
    const [whole, share, eight, cpu] = parsePodList(PODS11);
    expect([whole, share, eight, cpu].map((p) => podGpuDemandMilli(p!))).toEqual([1000, 460, 8000, 0]);
  });
});

describe("trace → allocator mapping", () => {
  const [whole, share, eight, cpu] = parsePodList(PODS11);

  it("maps whole GPUs to passthrough, fractions to a share, gpu_spec to models", () => {
    expect(traceGpuDemand(whole!)).toEqual({ kind: "passthrough", count: 1 });
    expect(traceGpuDemand(eight!)).toEqual({ kind: "passthrough", count: 8 });
    expect(traceGpuDemand(share!)).toEqual({ kind: "share", milli: 460, models: ["V100M16", "V100M32"] });
    expect(traceGpuDemand(cpu!)).toBeUndefined();
  });

  it("keeps CPU in milli-vCPU on both the host and the request side", () => {
    const snap = traceSnapshot(parseNodeList(NODES));
    expect(snap.hosts[0]!.cpu.total).toBe(96000);
    expect(snap.hosts[0]!.gpus).toHaveLength(8);
    expect(snap.hosts[0]!.gpus![0]).toMatchObject({ model: "G2", use: { kind: "free" } });
    expect(snap.hosts[1]!.gpus).toEqual([]);
    const req = traceRequest(cpu!);
    expect(req).toMatchObject({ vcpus: 3152, memoryMib: 0 });
    expect(req.gpu).toBeUndefined();
  });
});
