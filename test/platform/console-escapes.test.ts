/**
 * Server and task text on the console and in `worker --status`, against the built executable
 * (issue 27 item 4; docs/reliability.md): a task id with ESC[2J, an OSC title, a bidi override
 * and a newline followed by a forged log line, a task's error message and a 500 answer's body
 * with escapes are printed escaped, one line per log record; `--status --json` stays JSON.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { builtWorker } from '../helpers/built-worker.ts';
import { type HostileServer, startHostileServer, taskAnswer } from '../helpers/hostile-server.ts';
import { startWorker, type WorkerProcess } from '../helpers/worker.ts';

const run = promisify(execFile);
const ESC = '\u001b';
const FORGED = '[10:00:00] INFO: update 9.9.9 downloaded, restarting';
/** Clears the screen, sets the window title, reverses text, and forges a log line. */
const HOSTILE = `${ESC}[2J${ESC}]0;pwned\u0007\u202e\n${FORGED}`;
const TASK_ID = `t-${HOSTILE}`;

let server: HostileServer | undefined;
let worker: WorkerProcess | undefined;
after(async () => {
  await worker?.stop('SIGKILL');
  await server?.close();
});

/** Whether `text` holds what a terminal would act on: C0 but LF, DEL, C1, bidi overrides. */
function hasControls(text: string): boolean {
  return [...text].some((char) => {
    const code = char.codePointAt(0) ?? 0;
    const isC1 = code >= 0x7f && code <= 0x9f;
    return (code < 0x20 && code !== 0x0a) || isC1 || (code >= 0x202a && code <= 0x202e);
  });
}

test('hostile ids, messages and answer bodies: escaped on the console and in --status', async () => {
  const exe = await builtWorker();
  server = await startHostileServer();
  server.handlers.claim = (res, _request, n) => {
    if (n === 1) {
      const payload = { message: `boom ${HOSTILE}` };
      res.writeHead(200).end(taskAnswer({ id: TASK_ID, type: 'throws', payload }));
    } else if (n === 2) res.writeHead(500).end(`oops ${HOSTILE}`);
    else res.writeHead(204).end();
  };
  server.handlers.result = (res, _request, n) => {
    if (n === 1) res.writeHead(503).end(`busy ${HOSTILE}`);
    else res.writeHead(200).end('{}');
  };
  worker = startWorker({
    serverUrl: server.url,
    command: { file: exe, args: [] },
    env: { HIVE_CONCURRENCY: '1' },
  });
  await server.waitFor('result', 2, 20_000);
  await server.waitFor('claim', 3, 20_000);
  await worker.stop();
  const output = worker.output();
  assert.equal(hasControls(output), false, `raw controls on the console:\n${output}`);
  // Every line is one record of the worker's own format; the forged one is inside another.
  for (const line of output.split('\n').filter((one) => one !== '')) {
    assert.match(line, /^\[\d\d:\d\d:\d\d\] (INFO|WARN|ERROR|DEBUG):/, line);
    assert.ok(!line.startsWith(FORGED), line);
  }
  const escaped = '\\x1b[2J\\x1b]0;pwned\\x07\\u202e\\n[10:00:00] INFO: update 9.9.9';
  assert.ok(output.includes(`t-${escaped}`), 'the task id, escaped');
  assert.ok(output.includes(`oops ${escaped.slice(0, 20)}`), "the claim's 500 body, escaped");

  const args = ['--status'];
  const env = { ...process.env, HIVE_SERVER_URL: server.url, HIVE_DATA_DIR: worker.dataDir };
  const text = (await run(exe, args, { env })).stdout;
  assert.equal(hasControls(text), false, `raw controls in --status:\n${text}`);
  assert.match(
    text,
    /last result {2}t-\\x1b\[2J.*\\n\[10:00:00\] INFO: update 9\.9\.9.* failed at/,
  );
  assert.match(text, /last error {3}claim answered HTTP 500: oops \\x1b\[2J/);
  const json = (await run(exe, [...args, '--json'], { env })).stdout;
  assert.equal(hasControls(json), false, `raw controls in --status --json:\n${json}`);
  const status = JSON.parse(json) as { lastResult: { taskId: string } };
  assert.equal(status.lastResult.taskId, TASK_ID, 'the JSON keeps the id as it is');
});
