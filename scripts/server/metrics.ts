/**
 * `GET metrics`: the server's own counters in the Prometheus text exposition format 0.0.4,
 * written by hand. Answer counters live in memory (they restart at zero with the server, as
 * Prometheus counters may); task and result counts are read from the database.
 */
import type { Database } from './db.ts';
import type { FaultRoute } from './faults.ts';
import { duplicateCounts, resultsByStatus, tasksByState } from './views.ts';

export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/** What a request was answered with: an HTTP status, or `dropped` when the connection closed first. */
export type AnswerLabel = number | 'dropped';

type Labels = Record<string, string | number>;

export class ServerMetrics {
  /** route → answer → count, for the protocol routes. */
  readonly #answers = new Map<FaultRoute, Map<string, number>>();
  readonly #startedAtMs = Date.now();

  countAnswer(route: FaultRoute, answer: AnswerLabel): void {
    let byAnswer = this.#answers.get(route);
    if (byAnswer === undefined) {
      byAnswer = new Map();
      this.#answers.set(route, byAnswer);
    }
    const key = String(answer);
    byAnswer.set(key, (byAnswer.get(key) ?? 0) + 1);
  }

  render(db: Database, longPollsWaiting: number): string {
    const out: string[] = [];
    const answerSamples = (route: FaultRoute): [Labels, number][] =>
      [...(this.#answers.get(route) ?? new Map<string, number>())].map(([status, n]) => [
        { status },
        n,
      ]);

    family(
      out,
      'hive_server_claims_total',
      'counter',
      'Claim requests by answer status.',
      answerSamples('claim'),
    );
    family(
      out,
      'hive_server_heartbeats_total',
      'counter',
      'Heartbeats by answer status.',
      answerSamples('heartbeat'),
    );
    family(
      out,
      'hive_server_result_posts_total',
      'counter',
      'Result POSTs by answer status.',
      answerSamples('result'),
    );
    family(
      out,
      'hive_server_result_batches_total',
      'counter',
      'Result batch POSTs (protocol 1.1) by answer status.',
      answerSamples('results'),
    );
    family(
      out,
      'hive_server_releases_total',
      'counter',
      'Task releases (protocol 1.1) by answer status.',
      answerSamples('release'),
    );
    const tasks = Object.entries(tasksByState(db)).map(([state, n]): [Labels, number] => [
      { state },
      n,
    ]);
    family(out, 'hive_server_tasks', 'gauge', 'Tasks by state.', tasks);
    const results = [...resultsByStatus(db)].map(([status, n]): [Labels, number] => [
      { status },
      n,
    ]);
    family(
      out,
      'hive_server_results_total',
      'counter',
      'Stored results by result status.',
      results,
    );
    const duplicates = duplicateCounts(db);
    family(out, 'hive_server_duplicate_results_total', 'counter', 'Result POSTs answered 409.', [
      [{ kind: 'same_result_id' }, duplicates.same],
      [{ kind: 'other_result_id' }, duplicates.other],
    ]);
    family(out, 'hive_server_long_polls_waiting', 'gauge', 'Claims held open waiting for a task.', [
      [{}, longPollsWaiting],
    ]);
    family(out, 'hive_server_uptime_seconds', 'gauge', 'Seconds since the server started.', [
      [{}, (Date.now() - this.#startedAtMs) / 1000],
    ]);
    return `${out.join('\n')}\n`;
  }
}

/** Appends one metric family: HELP, TYPE, then one line per sample. */
function family(
  out: string[],
  name: string,
  type: 'counter' | 'gauge',
  help: string,
  samples: readonly [Labels, number][],
): void {
  out.push(`# HELP ${name} ${help.replaceAll('\\', '\\\\').replaceAll('\n', '\\n')}`);
  out.push(`# TYPE ${name} ${type}`);
  for (const [labels, value] of samples)
    out.push(`${name}${formatLabels(labels)} ${formatValue(value)}`);
}

function formatLabels(labels: Labels): string {
  const pairs = Object.entries(labels).map(
    ([key, value]) => `${key}="${escapeLabelValue(String(value))}"`,
  );
  return pairs.length === 0 ? '' : `{${pairs.join(',')}}`;
}

/** Label values escape backslash, double quote and line feed (format 0.0.4). */
function escapeLabelValue(value: string): string {
  return value.replaceAll('\\', '\\\\').replaceAll('"', '\\"').replaceAll('\n', '\\n');
}

function formatValue(value: number): string {
  if (Number.isNaN(value)) return 'NaN';
  if (value === Number.POSITIVE_INFINITY) return '+Inf';
  if (value === Number.NEGATIVE_INFINITY) return '-Inf';
  return String(value);
}
