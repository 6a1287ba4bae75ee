// PostgreSQL errors the services turn into API answers (a taken name is a 409, not a 500).

const UNIQUE_VIOLATION = "23505";

/** PostgreSQL's unique_violation, anywhere in the cause chain (drizzle wraps driver errors). */
export function isUniqueViolation(e: unknown): boolean {
  for (let cur = e, depth = 0; cur && typeof cur === "object" && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    if ((cur as { code?: unknown }).code === UNIQUE_VIOLATION) return true;
  }
  return false;
}
