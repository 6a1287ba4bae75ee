// One log line when an outage starts and one when it ends, however many requests fail in
// between; a lost connection while the database answers is not an outage.
import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { createManagerLogger } from "../logging.js";
import { DatabaseHealth } from "./database-health.js";

const refused = () => Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:5432"), { code: "ECONNREFUSED" });
const terminated = () => Object.assign(new Error("terminating connection due to administrator command"), { code: "57P01" });

function setup() {
  const lines: { level: number; msg: string }[] = [];
  const destination = new Writable({ write(c, _e, cb) { for (const l of String(c).split("\n").filter(Boolean)) lines.push(JSON.parse(l)); cb(); } });
  let up = true;
  let probes = 0;
  const health = new DatabaseHealth({
    log: createManagerLogger({ level: "info", destination: destination as never }),
    probe: async () => { probes++; if (!up) throw refused(); },
    probeIntervalMs: 5,
  });
  return { lines, health, setUp: (v: boolean) => { up = v; }, probes: () => probes };
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`never: ${what}`);
}

describe("DatabaseHealth", () => {
  it("logs an outage once at its start and once at its end", async () => {
    const { lines, health, setUp } = setup();
    setUp(false);
    for (let i = 0; i < 50; i++) expect(health.report(refused())).toBe(true);
    await until("outage", () => health.inOutage);
    for (let i = 0; i < 50; i++) health.report(refused());
    expect(await health.check()).toBe(false);
    setUp(true);
    await until("recovery", () => !health.inOutage);
    expect(await health.check()).toBe(true);
    expect(lines.map((l) => l.msg)).toEqual([
      "database unavailable: requests are answered 503 and jobs wait until it answers again",
      "database available again",
    ]);
    expect(lines[0]!.level).toBe(50);
    health.close();
  });

  it("a lost connection while the database answers is one warning, not an outage", async () => {
    const { lines, health } = setup();
    expect(health.report(terminated())).toBe(true);
    await until("the probe", () => lines.length > 0);
    expect(health.inOutage).toBe(false);
    expect(lines.map((l) => [l.level, l.msg])).toEqual([[40, "database error on a connection; the database answers, the pool replaces it"]]);
    health.close();
  });

  it("ignores errors that are not about the database being away", () => {
    const { health, probes } = setup();
    expect(health.report(new Error("duplicate key"))).toBe(false);
    expect(probes()).toBe(0);
    health.close();
  });
});
