// How tests start Orbit's programs: the compiled file globalSetup built, never TypeScript through
// tsx by accident.
import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { PROGRAM_SOURCES, PROGRAMS_DIR_ENV, programFile, programOfSource } from "./orbit-programs.js";
import { programCommand } from "./processes.js";

describe("programCommand under vitest", () => {
  it("runs a program's compiled file, in a network namespace when asked", () => {
    const manager = programFile("orbit-manager");
    expect(existsSync(manager)).toBe(true);
    expect(programCommand("manager/src/main.ts", ["--x"])).toEqual({ file: process.execPath, argv: [manager, "--x"] });
    expect(programCommand("agent/src/main.ts", [], { netns: "ns1", nodeArgs: ["--max-old-space-size=256"] })).toEqual({
      file: "ip", argv: ["netns", "exec", "ns1", process.execPath, "--max-old-space-size=256", programFile("orbit-agent")],
    });
  });

  it("refuses a source that is not compiled, and a run without the compiled programs", () => {
    expect(() => programCommand("bench/agents/agent-footprint.ts", [])).toThrow(/not among the compiled programs/);
    expect(() => programFile("orbit-manager", {})).toThrow(new RegExp(`${PROGRAMS_DIR_ENV} is not set`));
  });

  it("knows every program by its entry point", () => {
    for (const [name, source] of Object.entries(PROGRAM_SOURCES)) expect(programOfSource(source)).toBe(name);
    expect(programOfSource("manager/src/manager.ts")).toBeUndefined();
  });
});
