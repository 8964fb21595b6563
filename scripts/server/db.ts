/**
 * The server's SQLite database: opening it (WAL, so a killed server loses no committed write),
 * its schema, a statement cache, transactions and typed column readers.
 * Times are stored as epoch milliseconds; JSON values as their text.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync, type SQLOutputValue, type StatementSync } from 'node:sqlite';

export type Row = Record<string, SQLOutputValue>;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS tasks (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,   -- queue order
  id TEXT NOT NULL UNIQUE,
  type TEXT NOT NULL,
  payload TEXT NOT NULL,                   -- JSON
  timeout_sec REAL,
  lease_sec REAL NOT NULL,
  force INTEGER NOT NULL,
  state TEXT NOT NULL CHECK (state IN ('queued', 'leased', 'done', 'cancelled')),
  attempt INTEGER NOT NULL DEFAULT 0,      -- deliveries so far
  leased_to TEXT,                          -- worker of the last delivery while leased or cancelled
  lease_expires_at INTEGER,
  result_id TEXT,                          -- result accepted since the last (re)delivery round
  progress TEXT,                           -- JSON of the last heartbeat's progress
  created_at INTEGER NOT NULL,
  cancelled_at INTEGER
);
CREATE INDEX IF NOT EXISTS tasks_claimable ON tasks (state, type, seq);
CREATE TABLE IF NOT EXISTS deliveries (
  task_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  worker_id TEXT NOT NULL,
  delivered_at INTEGER NOT NULL,
  PRIMARY KEY (task_id, attempt)
);
CREATE TABLE IF NOT EXISTS results (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  result_id TEXT NOT NULL UNIQUE,
  task_id TEXT NOT NULL,
  status TEXT NOT NULL,
  body TEXT NOT NULL,                      -- the whole POSTed body, as parsed
  received_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS results_task ON results (task_id);
-- One row per result POST answered 409: 'same' = this resultId was already recorded,
-- 'other' = the task already had another result.
CREATE TABLE IF NOT EXISTS result_duplicates (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL,
  result_id TEXT NOT NULL,
  kind TEXT NOT NULL CHECK (kind IN ('same', 'other')),
  received_at INTEGER NOT NULL
);
-- Protocol 1.1: the task types of each worker's last claim (a result's "next" has none).
CREATE TABLE IF NOT EXISTS workers (
  worker_id TEXT PRIMARY KEY,
  types TEXT NOT NULL                      -- JSON array
);
-- Protocol 1.1-c: the tasks a result's "next" leased, so a re-sent resultId gets the same ones.
CREATE TABLE IF NOT EXISTS result_next (
  result_id TEXT PRIMARY KEY,
  worker_id TEXT NOT NULL,
  task_ids TEXT NOT NULL,                  -- JSON array, in the order they were answered
  created_at INTEGER NOT NULL
);
-- Protocol 1.1-e: deliveries given back unstarted (they do not count as attempts).
CREATE TABLE IF NOT EXISTS releases (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  task_id TEXT NOT NULL,
  worker_id TEXT NOT NULL,
  attempt INTEGER NOT NULL,
  reason TEXT NOT NULL,
  released_at INTEGER NOT NULL
);
`;

/** The database, with a prepared-statement cache so each SQL text is compiled once. */
export class Database {
  readonly #db: DatabaseSync;
  readonly #statements = new Map<string, StatementSync>();
  /** Open transactions: the outer one is BEGIN…COMMIT, the nested ones savepoints. */
  #depth = 0;

  /** `dataDir` undefined = in memory (lost on close); else `<dataDir>/server.db`, created if needed. */
  constructor(dataDir: string | undefined) {
    let path = ':memory:';
    if (dataDir !== undefined) {
      mkdirSync(dataDir, { recursive: true });
      path = join(dataDir, 'server.db');
    }
    this.#db = new DatabaseSync(path, { timeout: 5000 });
    // WAL + NORMAL: a committed transaction survives the process being killed (not a power cut,
    // which a test server does not need).
    this.#db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;');
    this.#db.exec(SCHEMA);
  }

  #statement(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (statement === undefined) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  get(sql: string, ...params: (string | number | null)[]): Row | undefined {
    return this.#statement(sql).get(...params);
  }

  all(sql: string, ...params: (string | number | null)[]): Row[] {
    return this.#statement(sql).all(...params);
  }

  /** Runs a write; returns how many rows it changed. */
  run(sql: string, ...params: (string | number | null)[]): number {
    return Number(this.#statement(sql).run(...params).changes);
  }

  /**
   * Runs `fn` in one transaction: all of its writes land, or none. Nested calls (a batch of
   * results, each its own transaction) become savepoints inside the outer one.
   */
  transaction<T>(fn: () => T): T {
    const savepoint = `s${this.#depth}`;
    this.#db.exec(this.#depth === 0 ? 'BEGIN IMMEDIATE' : `SAVEPOINT ${savepoint}`);
    this.#depth += 1;
    try {
      const value = fn();
      this.#depth -= 1;
      this.#db.exec(this.#depth === 0 ? 'COMMIT' : `RELEASE ${savepoint}`);
      return value;
    } catch (error) {
      this.#depth -= 1;
      this.#db.exec(
        this.#depth === 0 ? 'ROLLBACK' : `ROLLBACK TO ${savepoint}; RELEASE ${savepoint}`,
      );
      throw error;
    }
  }

  close(): void {
    if (this.#db.isOpen) this.#db.close();
  }
}

function column(row: Row, name: string): SQLOutputValue {
  if (!Object.hasOwn(row, name)) throw new Error(`no column ${name} in row`);
  return row[name] ?? null;
}

export function text(row: Row, name: string): string {
  const value = column(row, name);
  if (typeof value !== 'string')
    throw new Error(`column ${name}: expected text, got ${typeof value}`);
  return value;
}

export function textOrNull(row: Row, name: string): string | null {
  const value = column(row, name);
  return value === null ? null : text(row, name);
}

export function num(row: Row, name: string): number {
  const value = column(row, name);
  if (typeof value === 'bigint') return Number(value);
  if (typeof value !== 'number')
    throw new Error(`column ${name}: expected a number, got ${typeof value}`);
  return value;
}

export function numOrNull(row: Row, name: string): number | null {
  return column(row, name) === null ? null : num(row, name);
}

export function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : new Date(ms).toISOString();
}
