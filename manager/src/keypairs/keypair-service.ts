// SSH key pairs of an account (Hyperstack's key pairs, CloudStack's SSH key pairs): import a
// public key, generate a pair (the private key is returned once, never stored), list, rename,
// delete. Key pairs are scoped to the caller's account for every role, admins included (as
// OpenStack scopes key pairs to their owner): another account's key pair is not found.
import { and, asc, count, eq, getTableColumns, ilike, type SQL } from "drizzle-orm";
import { AlreadyExistsError, NotFoundError } from "#shared/errors.js";
import type { Db } from "../db/database.js";
import { environments, keypairs, regions } from "../db/schema.js";
import { EnvironmentService, type Environment } from "../environments/environment-service.js";
import { generateSshKeyPair, parseSshPublicKey, type GeneratedKeyType, type SshPublicKey } from "./ssh-keys.js";
import { containsPattern } from "../db/like-pattern.js";
import { isUniqueViolation } from "../db/postgres-errors.js";

export type KeyPairEnvironment = Environment;

export interface KeyPair {
  id: number;
  name: string;
  /** One OpenSSH public key line. */
  publicKey: string;
  /** MD5, colon-separated hex. */
  fingerprint: string;
  /** "SHA256:<base64>". */
  fingerprintSha256: string;
  createdAt: Date;
  environment: KeyPairEnvironment;
}

export interface KeyPairOwner { accountId: number }

export interface ImportKeyPairInput { environmentName: string; name: string; publicKey: string }
export interface GenerateKeyPairInput { environmentName: string; name: string; keyType?: GeneratedKeyType | undefined }
export interface ListKeyPairsInput { page: number; pageSize: number; search?: string | undefined }

type KeyPairRow = typeof keypairs.$inferSelect;
type EnvironmentRow = Environment;

function toKeyPair(row: KeyPairRow, env: EnvironmentRow): KeyPair {
  return {
    id: row.id, name: row.name, publicKey: row.publicKey, fingerprint: row.fingerprint,
    fingerprintSha256: row.fingerprintSha256, createdAt: row.createdAt, environment: env,
  };
}

/** A key pair row with its environment and the environment's region's name. */
const withEnvironment = { keypairs, environments: { ...getTableColumns(environments), region: regions.name } };

export class KeyPairService {
  private readonly environments: EnvironmentService;

  constructor(private readonly db: Db) {
    this.environments = new EnvironmentService(db);
  }

  /** Imports a public key after validating it (a bad key is an invalid public_key). */
  async importKeyPair(owner: KeyPairOwner, input: ImportKeyPairInput): Promise<KeyPair> {
    const key = parseSshPublicKey(input.publicKey);
    const env = await this.environments.named(owner.accountId, input.environmentName);
    return this.insert(owner, env, input.name, key);
  }

  /** Generates a key pair, stores its public key, and returns the private key this once. */
  async generate(owner: KeyPairOwner, input: GenerateKeyPairInput): Promise<{ keyPair: KeyPair; privateKey: string }> {
    const env = await this.environments.named(owner.accountId, input.environmentName);
    await this.refuseTakenName(owner, env, input.name);
    const pair = await generateSshKeyPair(input.keyType ?? "ed25519", input.name);
    const keyPair = await this.insert(owner, env, input.name, parseSshPublicKey(pair.publicKey));
    return { keyPair, privateKey: pair.privateKey };
  }

  /** The caller's key pairs by id, a page at a time; `search` matches part of the name, any case. */
  async list(owner: KeyPairOwner, input: ListKeyPairsInput): Promise<{ keyPairs: KeyPair[]; total: number }> {
    const where = and(eq(keypairs.accountId, owner.accountId), input.search ? ilike(keypairs.name, containsPattern(input.search)) : undefined);
    const [rows, [totals]] = await Promise.all([
      this.db.select(withEnvironment).from(keypairs).innerJoin(environments, eq(environments.id, keypairs.environmentId))
        .innerJoin(regions, eq(regions.id, environments.regionId)).where(where).orderBy(asc(keypairs.id)).limit(input.pageSize).offset((input.page - 1) * input.pageSize),
      this.db.select({ n: count() }).from(keypairs).where(where),
    ]);
    return { keyPairs: rows.map((r) => toKeyPair(r.keypairs, r.environments)), total: Number(totals?.n ?? 0) };
  }

  async get(owner: KeyPairOwner, id: number): Promise<KeyPair> {
    const [row] = await this.db.select(withEnvironment).from(keypairs).innerJoin(environments, eq(environments.id, keypairs.environmentId))
      .innerJoin(regions, eq(regions.id, environments.regionId)).where(this.owned(owner, id));
    if (!row) throw new NotFoundError("key pair", id);
    return toKeyPair(row.keypairs, row.environments);
  }

  /** Renames a key pair; the new name must be free in its environment. */
  async rename(owner: KeyPairOwner, id: number, name: string): Promise<KeyPair> {
    const current = await this.get(owner, id);
    if (current.name === name) return current;
    try {
      const [row] = await this.db.update(keypairs).set({ name }).where(this.owned(owner, id)).returning();
      if (!row) throw new NotFoundError("key pair", id);
      return { ...current, name: row.name };
    } catch (e) {
      if (isUniqueViolation(e)) throw this.nameTaken(name, current.environment.name);
      throw e;
    }
  }

  async delete(owner: KeyPairOwner, id: number): Promise<void> {
    const deleted = await this.db.delete(keypairs).where(this.owned(owner, id)).returning({ id: keypairs.id });
    if (deleted.length === 0) throw new NotFoundError("key pair", id);
  }

  private owned(owner: KeyPairOwner, id: number): SQL | undefined {
    return and(eq(keypairs.id, id), eq(keypairs.accountId, owner.accountId));
  }

  private async insert(owner: KeyPairOwner, env: EnvironmentRow, name: string, key: SshPublicKey): Promise<KeyPair> {
    const [row] = await this.db.insert(keypairs).values({
      accountId: owner.accountId, environmentId: env.id, name, publicKey: key.text,
      fingerprint: key.fingerprintMd5, fingerprintSha256: key.fingerprintSha256,
    }).onConflictDoNothing().returning();
    if (!row) throw this.nameTaken(name, env.name);
    return toKeyPair(row, env);
  }

  /** Checked before generating, so a taken name costs no key generation (the insert still decides). */
  private async refuseTakenName(owner: KeyPairOwner, env: EnvironmentRow, name: string): Promise<void> {
    const [taken] = await this.db.select({ id: keypairs.id }).from(keypairs)
      .where(and(eq(keypairs.accountId, owner.accountId), eq(keypairs.environmentId, env.id), eq(keypairs.name, name)));
    if (taken) throw this.nameTaken(name, env.name);
  }

  private nameTaken(name: string, environment: string): AlreadyExistsError {
    return new AlreadyExistsError("key pair", `"${name}"`, `a key pair named "${name}" already exists in environment "${environment}"`);
  }
}
