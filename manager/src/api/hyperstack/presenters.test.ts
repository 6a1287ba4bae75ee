// Fastify serializes answers with their response schema and drops what it does not name: every
// field a presenter writes must come out unchanged, and users never see which host ran a job.
import { describe, expect, it } from "vitest";
import type { Job } from "../../jobs/job-runner.js";
import { ok } from "../schemas.js";
import { served } from "../testing/served.js";
import { affinityGroupView } from "./affinity-group.presenter.js";
import { AffinityGroupView } from "./affinity-group.schema.js";
import { jobView } from "./job.presenter.js";
import { JobView } from "./job.schema.js";

const at = new Date("2026-12-04T10:00:00.123Z");
const job = (over: Partial<Job>): Job => ({
  id: 7, uuid: "6f1c1d1e-0000-4000-8000-000000000007", kind: "vm.deploy", vmId: 3, volumeId: null, accountId: 2, status: "succeeded",
  progress: 100, attempts: 2, input: {}, result: null, error: null, userId: null, createdAt: at, updatedAt: at, finishedAt: at, ...over,
});

describe("job presenter", () => {
  it("sends every field of a job and of each kind's result", async () => {
    for (const j of [
      job({ result: { host_id: 4 } }),
      job({ result: { skipped: "VM is Destroyed" } }),
      job({ kind: "vm.destroy", result: { already: true } }),
      job({ status: "failed", result: null, finishedAt: null, vmId: null, error: { code: "hypervisor_error", message: "no", retryable: false } }),
    ]) {
      const body = { status: true, message: "m", job: jobView(j, "admin") };
      expect(await served(ok({ job: JobView }), body)).toEqual({ status: 200, json: body });
    }
  });

  it("shows users no result field naming a host", async () => {
    const view = jobView(job({ result: { host_id: 4 } }), "user");
    expect(view.result).toEqual({});
    expect(jobView(job({ result: { skipped: "VM is Error", host_id: 4 } }), "user").result).toEqual({ skipped: "VM is Error" });
    expect(jobView(job({ result: { host_id: 4 } }), "admin").result).toEqual({ host_id: 4 });
  });
});

describe("affinity group presenter", () => {
  it("sends every field", async () => {
    const body = {
      status: true, message: "m",
      affinity_group: affinityGroupView({
        id: 1, uuid: "6f1c1d1e-0000-4000-8000-000000000001", accountId: 2, name: "g", type: "host-anti-affinity", strict: false,
        description: "d", createdAt: at, memberVmIds: [3, 5],
      }),
    };
    expect(body.affinity_group).toMatchObject({ virtual_machine_ids: [3, 5], created_at: at.toISOString(), type: "host-anti-affinity" });
    expect(await served(ok({ affinity_group: AffinityGroupView }), body)).toEqual({ status: 200, json: body });
  });
});
