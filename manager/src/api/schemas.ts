// Schema primitives shared by the routes of every dialect (TypeBox → JSON Schema → OpenAPI); the
// response shapes live beside their presenters (api/hyperstack/, api/admin/). Every string
// that reaches the database goes through one of the text types below: PostgreSQL refuses NUL in
// text and jsonb, and a lone UTF-16 surrogate in jsonb (text would silently store U+FFFD), so
// either must be a 400 naming the field, never a failed statement or a changed value.
import { Type, type StringOptions, type TProperties } from "@sinclair/typebox";

// ajv compiles patterns with the u flag: \uD800-\uDFFF matches unpaired surrogates only.
/** One line of text: no C0 control character (NUL, newline, tab...), no DEL, no unpaired surrogate. */
export const SINGLE_LINE_PATTERN = "^[^\\u0000-\\u001F\\u007F\\uD800-\\uDFFF]*$";
/** Text that may span lines (tab, newline, carriage return), with no other control character. */
export const MULTI_LINE_PATTERN = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F\\uD800-\\uDFFF]*$";
/** Names of resources: letters, digits, '.', '_' and '-', starting with a letter or digit. */
export const NAME_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]*$";
export const UUID_PATTERN = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";

/** What a pattern asks, in words, for validation messages (ajv only prints the regex). */
export const PATTERN_MEANINGS: Readonly<Record<string, string>> = {
  [SINGLE_LINE_PATTERN]: "must not contain control characters (NUL, newline, tab...) or unpaired UTF-16 surrogates",
  [MULTI_LINE_PATTERN]: "must not contain control characters other than tab and newline (no NUL) or unpaired UTF-16 surrogates",
  [NAME_PATTERN]: "may contain only letters, digits, '.', '_' and '-', and must start with a letter or digit",
  [UUID_PATTERN]: "must be a UUID (8-4-4-4-12 hexadecimal digits)",
};

export const SingleLineText = (o: StringOptions = {}) => Type.String({ ...o, pattern: SINGLE_LINE_PATTERN });
export const MultiLineText = (o: StringOptions = {}) => Type.String({ ...o, pattern: MULTI_LINE_PATTERN });
export const ResourceName = (o: StringOptions = {}) => Type.String({ minLength: 1, ...o, pattern: NAME_PATTERN });
export const Uuid = (o: StringOptions = {}) => Type.String({ ...o, pattern: UUID_PATTERN });

/** Row ids: PostgreSQL `serial` (int4). In a path or query they must be canonical decimals (see validation.ts). */
export const MAX_ID = 2147483647;
export const Id = (description?: string) => Type.Integer({ minimum: 1, maximum: MAX_ID, ...(description ? { description } : {}) });

export const ErrorBody = Type.Object({
  status: Type.Literal(false),
  message: Type.String(),
  error_reason: Type.String({ description: "Hyperstack's reason: bad_request, not_found, conflict, insufficient_capacity, unauthorized, forbidden, server_error..." }),
  code: Type.String({ description: "Orbit's stable error code (README, Errors)" }),
  field: Type.Optional(Type.String({ description: "The request field the error is about" })),
  request_id: Type.Optional(Type.String({ description: "On 5xx: quote it when reporting the problem" })),
}, { additionalProperties: true, description: "Hyperstack-style error" });

export const IdParams = Type.Object({ id: Id() }, { additionalProperties: false });

export const ok = <P extends TProperties>(props: P) =>
  Type.Object({ status: Type.Literal(true), message: Type.String(), ...props }, { additionalProperties: true });

export const errors = {
  400: ErrorBody, 401: ErrorBody, 403: ErrorBody, 404: ErrorBody, 409: ErrorBody, 413: ErrorBody, 415: ErrorBody, 422: ErrorBody,
  "5xx": ErrorBody,
};
