// What the /v1/core key pair routes accept and answer (Hyperstack's key pair fields, with Orbit's
// SHA256 fingerprint and the generate route's one-time private key as extras).
import { Type, type Static } from "@sinclair/typebox";
import { Id, MultiLineText, ResourceName, SingleLineText } from "../schemas.js";
import { EnvironmentView } from "./environment.schema.js";

/** Bounded so that (page - 1) * page_size stays a small integer (an SQL offset). */
const MAX_PAGE = 1_000_000;

export const KeypairName = () => ResourceName({ maxLength: 50, description: "1-50 characters: letters, digits, . _ -; unique per environment" });
const EnvironmentName = () => SingleLineText({ minLength: 1, maxLength: 63, description: "The environment the key pair belongs to" });

export const ImportKeypairBody = Type.Object({
  environment_name: EnvironmentName(),
  name: KeypairName(),
  public_key: MultiLineText({
    minLength: 1, maxLength: 16384,
    description: "One OpenSSH public key: ssh-ed25519, ssh-rsa (at least 2048 bits) or ecdsa-sha2-nistp256/384/521, with an optional comment",
  }),
}, { additionalProperties: false });

export const GenerateKeypairBody = Type.Object({
  environment_name: EnvironmentName(),
  name: KeypairName(),
  key_type: Type.Optional(Type.Union([Type.Literal("ed25519"), Type.Literal("rsa"), Type.Literal("ecdsa")], {
    default: "ed25519", description: "ed25519 (default), rsa (3072 bits) or ecdsa (nistp256)",
  })),
}, { additionalProperties: false });

export const RenameKeypairBody = Type.Object({ name: KeypairName() }, { additionalProperties: false });

export const ListKeypairsQuery = Type.Object({
  page: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE, default: 1 })),
  pageSize: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50, description: "Hyperstack's spelling of page_size" })),
  page_size: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  search: Type.Optional(SingleLineText({ maxLength: 100, description: "Part of the name, in any case" })),
}, { additionalProperties: false });


export const KeypairView = Type.Object({
  id: Id(),
  name: Type.String(),
  environment: EnvironmentView,
  public_key: Type.String({ description: "The OpenSSH public key line" }),
  fingerprint: Type.String({ description: "MD5 of the key, colon-separated hex (as Hyperstack shows it)" }),
  fingerprint_sha256: Type.String({ description: "SHA256:<base64>, as ssh-keygen -l prints it" }),
  created_at: Type.String({ format: "date-time" }),
});
export type KeypairView = Static<typeof KeypairView>;

export const GeneratedKeypairView = Type.Object({
  ...KeypairView.properties,
  private_key: Type.String({ description: "The private key in OpenSSH's format: shown this once, never stored" }),
});
export type GeneratedKeypairView = Static<typeof GeneratedKeypairView>;
