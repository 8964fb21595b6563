/**
 * A typed client of the reference server's admin API (enqueue, inspect, cancel, re-deliver,
 * inject faults), for the demo, `try-task` and the tests. Uses Node's global fetch unless given one.
 */
import type { ProtocolVersion } from './context.ts';
import type { ActiveFault, FaultRuleInput } from './faults.ts';
import type { NewTask } from './store.ts';
import type { AdminTask, ResultsView } from './views.ts';

export interface AdminClient {
  enqueue(task: NewTask): Promise<AdminTask>;
  task(id: string): Promise<AdminTask>;
  tasks(): Promise<AdminTask[]>;
  results(): Promise<ResultsView>;
  /** Appends fault rules; returns every active rule. */
  faults(rules: FaultRuleInput[]): Promise<ActiveFault[]>;
  clearFaults(): Promise<void>;
  cancel(id: string): Promise<AdminTask>;
  redeliver(id: string, options?: { force?: boolean }): Promise<AdminTask>;
  /** The protocol version the server speaks now. */
  protocol(): Promise<ProtocolVersion>;
  /** Switches it from the next request on ('1' = as a version-1 server). */
  setProtocol(version: ProtocolVersion): Promise<void>;
  /** Polls `probe` every 20 ms until it returns a truthy value, which it returns. */
  waitFor<T>(probe: () => T | Promise<T>, timeoutMs?: number): Promise<NonNullable<T>>;
}

/** What the client needs of `fetch`: the global one, or one that trusts a test's CA (undici's). */
export type AdminFetch = (
  url: URL,
  init: { method: string; headers: Record<string, string>; body: string | null },
) => Promise<{ ok: boolean; status: number; text(): Promise<string> }>;

export function createAdminClient(
  url: string,
  options: { token?: string; fetch?: AdminFetch } = {},
): AdminClient {
  const fetch = options.fetch ?? globalThis.fetch;
  async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = {};
    if (options.token !== undefined) headers.authorization = `Bearer ${options.token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(new URL(path, url), {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok)
      throw new Error(`admin ${method} ${path} answered ${response.status}: ${text}`);
    return (text === '' ? undefined : JSON.parse(text)) as T;
  }
  const taskPath = (id: string) => `admin/tasks/${encodeURIComponent(id)}`;
  return {
    enqueue: (task) => call<AdminTask>('POST', 'admin/tasks', task),
    task: (id) => call<AdminTask>('GET', taskPath(id)),
    tasks: async () => (await call<{ tasks: AdminTask[] }>('GET', 'admin/tasks')).tasks,
    results: () => call<ResultsView>('GET', 'admin/results'),
    faults: async (rules) =>
      (await call<{ faults: ActiveFault[] }>('POST', 'admin/faults', rules)).faults,
    clearFaults: () => call<undefined>('DELETE', 'admin/faults'),
    cancel: (id) => call<AdminTask>('POST', `${taskPath(id)}/cancel`),
    redeliver: (id, redeliver = {}) =>
      call<AdminTask>('POST', `${taskPath(id)}/redeliver`, redeliver),
    protocol: async () =>
      (await call<{ version: ProtocolVersion }>('GET', 'admin/protocol')).version,
    setProtocol: async (version) => {
      await call('PUT', 'admin/protocol', { version });
    },
    waitFor,
  };
}

async function waitFor<T>(probe: () => T | Promise<T>, timeoutMs = 5000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  let last: T;
  do {
    last = await probe();
    if (last) return last as NonNullable<T>;
    await new Promise((resolve) => setTimeout(resolve, 20));
  } while (Date.now() < deadline);
  throw new Error(
    `waitFor: condition not met within ${timeoutMs} ms (last value: ${JSON.stringify(last)})`,
  );
}
