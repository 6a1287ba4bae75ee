import { describe, expect, it } from "vitest";
import { parseCreatableVgpuTypes, parseMdevDescription } from "./vgpu-sysfs.parser.js";

describe("parseMdevDescription", () => {
  it("reads framebuffer and max_instance", () => {
    const d = parseMdevDescription("num_heads=4, frl_config=60, framebuffer=2048M, max_resolution=4096x2160, max_instance=4\n");
    expect(d.framebufferMib).toBe(2048);
    expect(d.maxInstances).toBe(4);
    expect(d.fields["max_resolution"]).toBe("4096x2160");
  });

  it("reads gigabyte framebuffers and tolerates an empty description", () => {
    expect(parseMdevDescription("framebuffer=80G, max_instance=1").framebufferMib).toBe(81920);
    expect(parseMdevDescription("")).toEqual({ framebufferMib: undefined, maxInstances: undefined, fields: {} });
  });
});

describe("parseCreatableVgpuTypes", () => {
  it("reads id : name lines and skips the header", () => {
    expect(parseCreatableVgpuTypes("ID    : vGPU Name\n1428 : NVIDIA H200X-141C\n1414 : NVIDIA H200X-1-18C\n")).toEqual([
      { vgpuTypeId: 1428, typeId: "nvidia-1428", name: "NVIDIA H200X-141C" },
      { vgpuTypeId: 1414, typeId: "nvidia-1414", name: "NVIDIA H200X-1-18C" },
    ]);
    expect(parseCreatableVgpuTypes("")).toEqual([]);
  });

  it("reads a 2 MB line in linear time (the old `(.+?)\\s*$` pattern was quadratic on runs of spaces)", () => {
    const name = `NVIDIA${" ".repeat(2_000_000)}H200X-141C`;
    expect(parseCreatableVgpuTypes(`1428 : ${name}${" ".repeat(2_000_000)}\n`)).toEqual([
      { vgpuTypeId: 1428, typeId: "nvidia-1428", name },
    ]);
  });
});
