// Key pairs in Hyperstack's dialect.
import type { KeyPair } from "../../keypairs/keypair-service.js";
import { environmentView } from "./environment.presenter.js";
import type { GeneratedKeypairView, KeypairView } from "./keypair.schema.js";

export function keypairView(k: KeyPair): KeypairView {
  return {
    id: k.id, name: k.name,
    environment: environmentView(k.environment),
    public_key: k.publicKey, fingerprint: k.fingerprint, fingerprint_sha256: k.fingerprintSha256, created_at: k.createdAt.toISOString(),
  };
}

export function generatedKeypairView(k: KeyPair, privateKey: string): GeneratedKeypairView {
  return { ...keypairView(k), private_key: privateKey };
}
