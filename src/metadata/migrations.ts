import { SCHEMA_VERSION } from './schema.js';

/**
 * Upgrade steps, keyed by the version they upgrade from. Each step rewrites
 * stored values in place inside the open transaction.
 */
export type Migration = (values: {
  get(key: string): unknown;
  put(key: string, value: unknown): void;
  keys(): Iterable<string>;
}) => void;

export const MIGRATIONS: Record<number, Migration> = {
  // Version 2 adds optional fields (key, remote layer) and the key index; no version 1 record has a key.
  1: () => {},
};

export function migrationPath(from: number): Migration[] {
  const steps: Migration[] = [];
  for (let v = from; v < SCHEMA_VERSION; v++) {
    const step = MIGRATIONS[v];
    if (!step) throw new Error(`no migration from schema version ${v} to ${v + 1}`);
    steps.push(step);
  }
  return steps;
}
