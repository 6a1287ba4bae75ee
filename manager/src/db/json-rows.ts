// Rows read as JSON (row_to_json in one statement that gathers several tables' rows), mapped to
// what drizzle's own select of the table would give: keys by the columns' TypeScript names,
// timestamps as Dates, bigints as numbers; jsonb values are already parsed.
import { getTableColumns, type Table } from "drizzle-orm";

export function rowFromJson<T extends Table>(table: T, json: Record<string, unknown>): T["$inferSelect"] {
  const out: Record<string, unknown> = {};
  for (const [key, col] of Object.entries(getTableColumns(table))) {
    const v = json[col.name];
    if (v === undefined || v === null) out[key] = null;
    else if (col.columnType === "PgJsonb" || col.columnType === "PgJson" || col.columnType === "PgArray") out[key] = v;
    else if (col.columnType === "PgTimestamp") out[key] = new Date(v as string);
    else if (col.columnType === "PgBigInt53") out[key] = Number(v);
    else if (["PgSerial", "PgInteger", "PgText", "PgBoolean", "PgUUID"].includes(col.columnType)) out[key] = v;
    // A column type this mapping does not know: refuse rather than hand out a wrong value.
    else throw new Error(`rowFromJson: column ${col.name} has type ${col.columnType}, which it does not map`);
  }
  return out as T["$inferSelect"];
}
