// Jobs as the API reads them: one job, scoped to the caller's account (admins see every job).
import { and, eq } from "drizzle-orm";
import { NotFoundError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { jobs } from "../db/schema.js";
import type { Job, JobResult } from "./job-runner.js";

export interface JobCaller { accountId: number; role: "admin" | "user" }

export class JobService {
  constructor(private readonly db: Db) {}

  async get(caller: JobCaller, id: number): Promise<Job> {
    const scope = caller.role === "admin" ? undefined : eq(jobs.accountId, caller.accountId);
    const [row] = await this.db.select().from(jobs).where(and(eq(jobs.id, id), scope));
    if (!row) throw new NotFoundError("job", id);
    // Only the runner writes `result`, from what a handler returned (a JobResult).
    return { ...row, result: row.result as JobResult | null };
  }
}
