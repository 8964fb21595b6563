/**
 * What users edit. Every value here is a default: `worker.config.json` beside the executable,
 * `HIVE_<NAME>` environment variables and `--kebab-name` flags override it, in that order
 * (see src/settings/table.ts and `worker --help`). Durations are in seconds.
 */
import { echo } from '../tasks/echo.ts';
import { prom_pars } from '../tasks/prom_pars.ts';
import { sleep } from '../tasks/sleep.ts';
import type { TaskRegistry } from './task/define.ts';

/** This build's version; equal to package.json's (a test checks). `npm run build -- --version X` builds as X. */
export const WORKER_VERSION = '1.0.0';

/** Root of the Hive API; every protocol path is resolved against it. */
export const SERVER_URL = 'http://127.0.0.1:8080/api/';

/** Task type → task. Add a task: write tasks/<name>.ts, import it here, add it to this object. */
export const TASK_REGISTRY = { echo, sleep, prom_pars } satisfies TaskRegistry;

/** Seconds to wait before polling again when the server has no task (± 10 % jitter). @default 5 */
export const NO_TASK_SLEEP = 5;

/** Seconds to wait after the first error; doubles per further error (full jitter) up to MAX_ERROR_SLEEP. @default 5 */
export const TIME_ERROR_SLEEP = 5;

/** Cap, in seconds, of the error backoff and of a server's `Retry-After`. @default 300 */
export const MAX_ERROR_SLEEP = 300;

/** Long poll: seconds the server may hold a claim until a task arrives; 0 = classic polling. @default 25 */
export const WAIT_SEC = 25;

/** How many tasks run at once, each in its own process; CPU-heavy tasks gain little past the cores. @default 1 */
export const CONCURRENCY = 1;

/**
 * Protocol 1.1: tasks leased beyond the free slots, held (and heart-beaten) until a slot frees,
 * so the next task is here when the last one ends. At most this many, and more than one only while
 * the latest tasks are short enough for the held ones to start within about a second: a worker
 * running long tasks does not hoard tasks idle workers could run (docs/performance.md,
 * "PREFETCH"). 0 = only as many as free slots. @default 4
 */
export const PREFETCH = 4;

/**
 * Start the next task process while a task runs, so the next task does not wait for one (a spare
 * unused for 30 s is stopped; none beside a reused process that comes back after its task, see
 * TASKS_PER_PROCESS). Off: one process less held while tasks run. @default true
 */
export const WARM_START = true;

/**
 * How many tasks a task process runs, one at a time, before it is replaced; 1 = a fresh process per
 * task. More saves a process start per task: worth it for many short tasks. A reused process is
 * also replaced after a task that does not succeed, past REUSE_MAX_RSS, or unused for 30 s
 * (docs/reliability.md, "Reused task processes"). A task type that keeps state of its own says
 * `fresh: true` in defineTask. @default 1
 */
export const TASKS_PER_PROCESS = 1;

/** A reused task process whose resident memory after a task passes this many MB is replaced; 0 = no limit. @default 256 */
export const REUSE_MAX_RSS = 256;

/** Bearer token sent to the server; empty = none. Never logged. @default "" */
export const TOKEN = '';

/**
 * A file whose trimmed content is the token, kept off command lines `ps` shows; read at start and
 * after a 401/403; relative to worker.config.json when set there. TOKEN or TOKEN_FILE, not both in one place. @default ""
 */
export const TOKEN_FILE = '';

/** Seconds a task may run when neither the server nor the task sets a timeout. @default 600 */
export const TASK_TIMEOUT = 600;

/** Seconds between asking a task to stop (abort) and killing its process. @default 5 */
export const KILL_GRACE = 5;

/** Seconds a running task may finish in after Ctrl+C / SIGTERM before it is stopped. @default 30 */
export const SHUTDOWN_GRACE = 30;

/**
 * Which local addresses network tasks (ctx.network) may reach: `none`, `loopback` (a local
 * exporter) or `all` (link-local too, where cloud metadata answers): docs/reliability.md, "What
 * tasks see". @default 'loopback'
 */
export const TASK_LOCAL_NETWORK: 'none' | 'loopback' | 'all' = 'loopback';

/** Heap limit of a task process, in MB; 0 = Node's default. A task that leaks past it fails (CRASHED). @default 0 */
export const TASK_MAX_HEAP = 0;

/**
 * Seconds after work (and at most how often while tasks keep coming) before the worker gives freed
 * memory back to the system: a full garbage collection, then glibc's malloc_trim on Linux
 * (docs/performance.md, "Memory given back"). 0 = never. @default 5
 */
export const MEMORY_TRIM = 5;

/** Largest task output, in bytes of JSON, that is reported; larger ones are `failed`. @default 8388608 */
export const MAX_RESULT_BYTES = 8 * 1024 * 1024;

/** Seconds to wait for a TCP connection to the server. @default 10 */
export const CONNECT_TIMEOUT = 10;

/**
 * Seconds of silence from the server (headers or body) before a request fails, and the deadline of
 * a whole request (a claim adds WAIT_SEC, a result its upload time; a heartbeat at most lease/3).
 * @default 30
 */
export const REQUEST_TIMEOUT = 30;

/** TCP keep-alive on connections to the server; turn off under Wine. @default true */
export const TCP_KEEPALIVE = true;

/**
 * Forward proxy for every request (claims, heartbeats, results, release downloads), e.g.
 * `http://user:pass@proxy.corp:3128`; it wins over HTTP_PROXY / HTTPS_PROXY / NO_PROXY.
 * "direct" = no proxy whatever the environment says; "" = follow the environment. @default ""
 */
export const PROXY = '';

/**
 * PEM file of CA certificates trusted for the server, its releases and an https:// proxy, on top
 * of the default roots (Node's list, the system's store, NODE_EXTRA_CA_CERTS); a relative path is
 * taken from the executable's folder. "" = none. @default ""
 */
export const CA_FILE = '';

/** Where the worker keeps its id, outbox, logs and lock; empty = `data/` beside the executable. @default "" */
export const DATA_DIR = '';

/** Log level: trace, debug, info, warn, error, fatal. @default "info" */
export const LOG_LEVEL = 'info';

/** Size, in MB, at which logs/worker.log is rotated (renamed worker.log.1, and so on). @default 10 */
export const LOG_MAX_SIZE = 10;

/** Log files kept: worker.log and up to LOG_FILES - 1 older ones (worker.log.1 is the newest). @default 5 */
export const LOG_FILES = 5;

/** Seconds a finished task's result is kept to answer a re-delivery without running again. @default 86400 */
export const RESULT_RETENTION = 86_400;

/** Most results waiting in the outbox; when full the worker stops claiming until some are sent. @default 1000 */
export const OUTBOX_MAX = 1000;

/**
 * Seconds a new result waits for the server's answer before its outbox file is written, while
 * the server's latest answers all came within it: a result the server has by then gets no
 * outbox file and no fsync, only done/'s copy (docs/reliability.md, "No outbox file for a result
 * the server already has"). Until written or answered a result counts toward the CONCURRENCY +
 * PREFETCH results the loop lets wait for their write, so a long wait slows short tasks down.
 * 10 ms: a busy local server's answers come in 2.5–4 ms (median), 4–7 ms (p90), 6–13 ms (p99)
 * (docs/performance.md, session 12). 0 = never wait: every result's outbox file written and
 * fsynced at once. @default 0.01
 */
export const RESULT_ANSWER_WAIT = 0.01;

/** Seconds between checks for a new release. @default 3600 */
export const UPDATE_CHECK_INTERVAL = 3600;

/** Install newer signed releases the server offers (single executable only). @default true */
export const AUTO_UPDATE = true;

/** Seconds a release that failed to install or start is skipped before it is tried again. @default 21600 */
export const UPDATE_RETRY_AFTER = 21_600;

/** Overall deadline, in seconds, of one release download (it resumes at the next check). @default 1800 */
export const UPDATE_DOWNLOAD_TIMEOUT = 1800;

/** Seconds the new version has to report healthy before the updater rolls back. @default 60 */
export const UPDATE_HEALTH_TIMEOUT = 60;
