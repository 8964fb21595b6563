/**
 * Admin endpoints (JSON, same token rule as the protocol, no worker id needed): enqueue and
 * inspect tasks, cancel or redeliver them, read every result, set fault rules for tests, and
 * switch the protocol version spoken.
 */
import * as z from 'zod';
import { type Exchange, PROTOCOL_VERSIONS, type Route } from '../context.ts';
import { FaultRulesSchema } from '../faults.ts';
import { HttpError, readBody, sendEmpty, sendJson } from '../http.ts';
import { NewTaskSchema } from '../store.ts';
import { type AdminTask, getTask, listTasks, resultsView } from '../views.ts';

const ProtocolSchema = z.strictObject({ version: z.enum(PROTOCOL_VERSIONS) });

const RedeliverSchema = z.object({ force: z.boolean().optional() }).optional();

function taskOr404(exchange: Exchange, id: string): AdminTask {
  const task = getTask(exchange.server.db, id);
  if (task === undefined) throw new HttpError(404, `no task ${id}`);
  return task;
}

/** `POST admin/tasks` → 201 the task; 409 when the id is taken. Wakes long polls. */
async function enqueueTask(exchange: Exchange): Promise<void> {
  const { server } = exchange;
  const input = await readBody(exchange.req, NewTaskSchema);
  const id = server.store.enqueue(input, Date.now());
  if (id === undefined) throw new HttpError(409, `task ${input.id} already exists`);
  server.longPolls.wake();
  sendJson(exchange.res, 201, taskOr404(exchange, id));
}

/** `POST admin/tasks/{id}/cancel` → 200 the task; 404 unknown; 409 when it already has its result. */
function cancelTask(exchange: Exchange): void {
  const id = exchange.params[0] ?? '';
  const outcome = exchange.server.store.cancel(id, Date.now());
  if (outcome === 'unknown') throw new HttpError(404, `no task ${id}`);
  if (outcome === 'finished') throw new HttpError(409, `task ${id} is done; nothing to cancel`);
  sendJson(exchange.res, 200, taskOr404(exchange, id));
}

/** `POST admin/tasks/{id}/redeliver` `{ force? }` → 200 the task, queued again. */
async function redeliverTask(exchange: Exchange): Promise<void> {
  const { server } = exchange;
  const id = exchange.params[0] ?? '';
  const body = await readBody(exchange.req, RedeliverSchema);
  if (!server.store.redeliver(id, body?.force ?? false)) throw new HttpError(404, `no task ${id}`);
  server.longPolls.wake();
  sendJson(exchange.res, 200, taskOr404(exchange, id));
}

/** `PUT admin/protocol` `{ version: "1" | "1.1" }` → 200 `{ version }`, from the next request on. */
async function setProtocol(exchange: Exchange): Promise<void> {
  const { version } = await readBody(exchange.req, ProtocolSchema);
  exchange.server.protocol.version = version;
  sendJson(exchange.res, 200, { version });
}

/** `POST admin/faults` with a JSON array of rules (appended) → 200 `{ faults }`, all active rules. */
async function addFaults(exchange: Exchange): Promise<void> {
  const rules = await readBody(exchange.req, FaultRulesSchema);
  sendJson(exchange.res, 200, { faults: exchange.server.faults.add(rules) });
}

export const ADMIN_ROUTES: readonly Route[] = [
  {
    methods: ['GET'],
    pattern: /^admin\/tasks$/,
    kind: 'admin',
    handle: (exchange) => sendJson(exchange.res, 200, { tasks: listTasks(exchange.server.db) }),
  },
  { methods: ['POST'], pattern: /^admin\/tasks$/, kind: 'admin', handle: enqueueTask },
  {
    methods: ['GET'],
    pattern: /^admin\/tasks\/([^/]+)$/,
    kind: 'admin',
    handle: (exchange) =>
      sendJson(exchange.res, 200, taskOr404(exchange, exchange.params[0] ?? '')),
  },
  {
    methods: ['POST'],
    pattern: /^admin\/tasks\/([^/]+)\/cancel$/,
    kind: 'admin',
    handle: cancelTask,
  },
  {
    methods: ['POST'],
    pattern: /^admin\/tasks\/([^/]+)\/redeliver$/,
    kind: 'admin',
    handle: redeliverTask,
  },
  {
    methods: ['GET'],
    pattern: /^admin\/results$/,
    kind: 'admin',
    handle: (exchange) => sendJson(exchange.res, 200, resultsView(exchange.server.db)),
  },
  {
    methods: ['GET'],
    pattern: /^admin\/faults$/,
    kind: 'admin',
    handle: (exchange) => sendJson(exchange.res, 200, { faults: exchange.server.faults.list() }),
  },
  { methods: ['POST'], pattern: /^admin\/faults$/, kind: 'admin', handle: addFaults },
  {
    methods: ['GET'],
    pattern: /^admin\/protocol$/,
    kind: 'admin',
    handle: (exchange) => sendJson(exchange.res, 200, { ...exchange.server.protocol }),
  },
  { methods: ['PUT'], pattern: /^admin\/protocol$/, kind: 'admin', handle: setProtocol },
  {
    methods: ['DELETE'],
    pattern: /^admin\/faults$/,
    kind: 'admin',
    handle: (exchange) => {
      exchange.server.faults.clear();
      sendEmpty(exchange.res, 204);
    },
  },
];
