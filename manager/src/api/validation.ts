// Request validation: one ajv per part of the request. Bodies are JSON and keep their types (no
// coercion: `"name": true` is not the name "true", `null` is not "null"). Path and query values
// are strings by nature: numbers there are coerced, but only from canonical decimals (no sign,
// exponent, hex, leading zero or "Infinity"), so an id means one thing only.
import { Ajv, type ErrorObject, type Options, type ValidateFunction } from "ajv";
import * as ajvFormats from "ajv-formats";
import type { FastifySchemaCompiler } from "fastify";

// ajv-formats is CommonJS: its default export arrives as `default` or as the module itself.
const addFormats = ((ajvFormats as unknown as { default?: unknown }).default ?? ajvFormats) as (ajv: Ajv) => Ajv;

const COMMON: Options = { removeAdditional: false, useDefaults: true, allErrors: false, strict: false };

/** Integers written in a path or query: at most 16 digits (the schema's maximum bounds them further). */
const CANONICAL_INTEGER = /^(0|[1-9][0-9]{0,15})$/;

interface ObjectSchema { properties?: Record<string, { type?: unknown }> }

/** A path/query validator that refuses non-canonical numbers before ajv coerces them. */
function canonicalNumbers(schema: ObjectSchema, coercing: ValidateFunction): ValidateFunction {
  const numeric = Object.entries(schema.properties ?? {})
    .filter(([, p]) => p.type === "integer" || p.type === "number").map(([name]) => name);
  const validate = ((data: unknown) => {
    if (data && typeof data === "object") {
      for (const name of numeric) {
        const v = (data as Record<string, unknown>)[name];
        if (typeof v === "string" && !CANONICAL_INTEGER.test(v)) {
          const issue: ErrorObject = {
            instancePath: `/${name}`, schemaPath: `#/properties/${name}/type`, keyword: "canonical", params: {},
            message: "must be a decimal integer (digits only: no sign, exponent, hex or leading zero)",
          };
          validate.errors = [issue];
          return false;
        }
      }
    }
    const ok = coercing(data);
    validate.errors = coercing.errors ?? null;
    return ok;
  }) as ValidateFunction;
  return validate;
}

export function buildValidatorCompiler(): FastifySchemaCompiler<unknown> {
  const body = addFormats(new Ajv({ ...COMMON, coerceTypes: false }));
  const strings = addFormats(new Ajv({ ...COMMON, coerceTypes: true }));
  return ({ schema, httpPart }) => {
    if (httpPart === "body") return body.compile(schema as object);
    const coercing = strings.compile(schema as object);
    return httpPart === "params" || httpPart === "querystring" ? canonicalNumbers(schema as ObjectSchema, coercing) : coercing;
  };
}
