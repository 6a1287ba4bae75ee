export type MigrationMode = "live" | "cold";
