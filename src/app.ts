/**
 * Worker mode, wired together: data folder, lock, logs, identity, client, outbox, loop, signals.
 * Returns an exit code; only main.ts exits.
 */
import { join } from 'node:path';
import { BUILD_INFO } from './build-info.ts';
import { StatusRecorder } from './loop/status-file.ts';
import { type RunEnd, Worker } from './loop/worker.ts';
import { consoleStream, wantsColor } from './platform/console.ts';
import { resolveDataDir } from './platform/data-dir.ts';
import { coerceError } from './platform/errors.ts';
import { loadWorkerId } from './platform/identity.ts';
import { acquireLock } from './platform/lock.ts';
import { createLogger, type Logger, Secrets, secretScrubber } from './platform/log.ts';
import { MemoryUpkeep } from './platform/memory-upkeep.ts';
import { makeNotDumpable } from './platform/not-dumpable.ts';
import { registerSignalHandlers } from './platform/signals.ts';
import { type ConsoleFacts, describeConsole, windowsConsole } from './platform/windows-console.ts';
import { ResultDelivery } from './results/delivery.ts';
import { ResultLedger } from './results/ledger.ts';
import { Outbox } from './results/outbox.ts';
import type { Options, Supervisor } from './settings/load.ts';
import type { Settings } from './settings/table.ts';
import { CLEAR_TEXT_WARNING, sendsTokenInClearText } from './settings/token.ts';
import { selfCommand, taskEnvironment } from './task/command.ts';
import type { TaskRegistry } from './task/define.ts';
import { TaskProcessPool } from './task/pool.ts';
import { TaskRunner } from './task/runner.ts';
import { keepTaskProcesses, killAllTaskTrees } from './task/task-processes.ts';
import type { PreparedUpdate } from './update/prepare.ts';
import { terminalProgressBar } from './update/progress-bar.ts';
import { SelfUpdate } from './update/self-update.ts';
import { UpdateStore } from './update/state.ts';
import { HiveClient } from './wire/hive-client.ts';
import { currentPlatform } from './wire/protocol.ts';
import { describeProxy, proxySecrets } from './wire/proxy.ts';

export const EXIT_FORCED = 130;

/** How long a task process started ahead of need waits for a task before it is stopped. */
const IDLE_PROCESS_TTL_MS = 30_000;

export interface AppContext {
  settings: Settings;
  options: Options;
  registry: TaskRegistry;
  env: NodeJS.ProcessEnv;
  installDir: string;
  /** Exits the process now (second Ctrl+C): the outbox keeps what is unsent. */
  forceExit: (code: number) => void;
  /** Reads TOKEN / TOKEN_FILE again from their sources (src/settings/load.ts readToken); throws if it cannot. */
  readToken: () => { token: string; from: string };
}

export async function runWorker(app: AppContext): Promise<number> {
  const { settings, registry } = app;
  const dataDir = resolveDataDir(settings.dataDir, app.installDir, app.env);
  const releaseLock = acquireLock(dataDir.path);
  const logFile = join(dataDir.path, 'logs', 'worker.log');
  const secrets = new Secrets([settings.token, ...proxySecrets(settings.proxy)]);
  const log = createLogger({
    level: settings.logLevel,
    filePath: logFile,
    fileMaxBytes: settings.logMaxBytes,
    fileCount: settings.logFiles,
    secrets,
    colorize: wantsColor(consoleStream('stdout')),
  });
  for (const note of dataDir.notes) log.warn(note);
  // Before any task runs: a task (same user) may not read this process's environment or memory.
  if (process.platform === 'linux' && !makeNotDumpable())
    log.warn('could not make the worker non-dumpable: tasks can read its /proc/<pid>/environ');
  // Holding the lock: what a dead predecessor's task processes left running is ours to end.
  const taskProcesses = keepTaskProcesses(dataDir.path);
  let unregister = () => {};
  try {
    for (const pid of taskProcesses.reaped)
      log.warn(`stopped task process ${pid}, left running by a worker that died`);
    // Ctrl+C is the worker's from here, before the banner says it runs: one that comes while the
    // rest is made stops the loop before its first claim (the default would kill the process).
    let worker: Worker | undefined;
    let stopAtStart = false;
    unregister = registerSignalHandlers({
      drain: (signal) => {
        log.info(`${signal}: finishing up (press Ctrl+C again to stop at once)`);
        if (worker === undefined) stopAtStart = true;
        else worker.stop();
      },
      force: (signal) => {
        log.warn(`${signal} again: stopping now; unsent results stay in the outbox`);
        killAllTaskTrees();
        releaseLock();
        app.forceExit(EXIT_FORCED);
      },
    });
    const workerId = loadWorkerId(dataDir.path);
    const version = BUILD_INFO.version;
    const platform = currentPlatform();
    printBanner(log, {
      version,
      settings,
      workerId,
      dataDir: `${dataDir.path} (${dataDir.why})`,
      logFile,
      registry,
      supervisor: app.options.supervisor,
      console: windowsConsole(),
    });
    const client = new HiveClient({
      serverUrl: settings.serverUrl,
      token: settings.token,
      reloadToken: tokenReloader(app, settings.token, log, secrets),
      workerId,
      userAgent: `hive-worker/${version} (${platform})`,
      connectTimeoutMs: settings.connectTimeoutMs,
      requestTimeoutMs: settings.requestTimeoutMs,
      maxErrorSleepMs: settings.maxErrorSleepMs,
      tcpKeepAlive: settings.tcpKeepAlive,
      proxy: settings.proxy,
      caCertificates: settings.caFile?.certificates,
    });
    const outbox = new Outbox({
      dataDir: dataDir.path,
      retentionMs: settings.resultRetentionMs,
      log,
    });
    const ledger = new ResultLedger(outbox, settings.outboxMax, {
      answerWaitMs: settings.resultAnswerWaitMs,
    }).open();
    const delivery = new ResultDelivery({
      ledger,
      client,
      log,
      errorSleepMs: settings.errorSleepMs,
      maxErrorSleepMs: settings.maxErrorSleepMs,
    });
    const scrub = secretScrubber(secrets);
    const runner = new TaskRunner({
      registry,
      command: selfCommand(
        BUILD_INFO.isExecutable,
        settings.taskMaxHeapMb,
        settings.taskLocalNetwork,
      ),
      env: taskEnvironment(app.env),
      // A pool even without spares (WARM_START=false) when processes are reused: it holds them.
      pool:
        settings.warmStart || settings.tasksPerProcess > 1
          ? new TaskProcessPool(
              IDLE_PROCESS_TTL_MS,
              settings.warmStart ? settings.concurrency : 0,
              {
                tasksPerProcess: settings.tasksPerProcess,
                maxRssBytes: settings.reuseMaxRssMb * 2 ** 20,
              },
            )
          : undefined,
      defaultTimeoutMs: settings.taskTimeoutMs,
      killGraceMs: settings.killGraceMs,
      maxResultBytes: settings.maxResultBytes,
      spoolDir: outbox.spoolDir,
      scrub: (text) => scrub(text) as string,
    });
    // Self-update and the loop need each other (hints one way, drains the other): self-update is
    // made first, and the loop it drains is bound below before either starts.
    let prepared: PreparedUpdate | undefined;
    let loopToDrain: Worker | undefined;
    const memory =
      settings.memoryTrimMs > 0
        ? new MemoryUpkeep({ afterMs: settings.memoryTrimMs, log })
        : undefined;
    const selfUpdate = new SelfUpdate({
      client,
      store: new UpdateStore(dataDir.path),
      settings,
      log,
      version,
      platform,
      publicKey: BUILD_INFO.releasePublicKey,
      executable: BUILD_INFO.isExecutable ? process.execPath : undefined,
      dataDir: dataDir.path,
      env: { ...app.env, ...app.options.carriedEnv },
      supervisor: app.options.supervisor,
      ...(consoleStream('stderr').isTTY
        ? { progressBar: terminalProgressBar(consoleStream('stderr'), 'downloading update') }
        : {}),
      onReady: (ready) => {
        prepared = ready;
        loopToDrain?.drainForUpdate();
      },
      // A patch's windows or a zip's buffers are given back as a task's are (MEMORY_TRIM).
      onPrepared: () => memory?.workDone(),
    });
    worker = new Worker({
      settings,
      client,
      ledger,
      delivery,
      runner,
      log,
      identity: { workerId, version, platform },
      once: app.options.once,
      onUpdateHint: (hint) => selfUpdate.hint(hint),
      onServerReached: () => selfUpdate.confirmHealthy(),
      status: new StatusRecorder(dataDir.path, log, (text) => scrub(text) as string),
      onTaskSettled: () => memory?.workDone(),
    });
    loopToDrain = worker;
    if (stopAtStart) worker.stop();
    // A --once run handles one task for a script: it never installs an update mid-way.
    if (!app.options.once) selfUpdate.start();
    let end: RunEnd = 'stopped';
    try {
      end = await worker.run();
    } finally {
      selfUpdate.stop();
      memory?.close();
      runner.close();
      outbox.close();
      await client.close();
    }
    if (prepared !== undefined && end === 'update') {
      selfUpdate.handOff(prepared);
      return 0;
    }
    log.info(`stopped (${ledger.size} result(s) left in the outbox)`);
    return 0;
  } finally {
    unregister();
    taskProcesses.close();
    releaseLock();
    log.flush();
  }
}

/**
 * After a 401/403: the token as TOKEN / TOKEN_FILE say now. Said once per change; a file that
 * cannot be read is logged (once per reason) and the token in use is kept, never a crash.
 */
function tokenReloader(
  app: AppContext,
  initial: string,
  log: Logger,
  secrets: Secrets,
): () => string {
  let current = initial;
  let lastProblem = '';
  return () => {
    try {
      const { token, from } = app.readToken();
      lastProblem = '';
      // Scrubbed from every log line from now on, like the first one.
      secrets.add(token);
      if (token !== current) log.info(`the token was changed (${from}): using the new one`);
      current = token;
    } catch (error) {
      const problem = coerceError(error).message;
      if (problem !== lastProblem)
        log.error(`cannot read the token again, keeping the one in use: ${problem}`);
      lastProblem = problem;
    }
    return current;
  };
}

function printBanner(
  log: Logger,
  facts: {
    version: string;
    settings: Settings;
    workerId: string;
    dataDir: string;
    logFile: string;
    registry: TaskRegistry;
    supervisor: Supervisor;
    /** Windows only: whose console this process has (undefined: not told). */
    console: ConsoleFacts | undefined;
  },
): void {
  const { settings } = facts;
  const atOnce = settings.concurrency > 1 ? ` (up to ${settings.concurrency} at once)` : '';
  const lines = [
    `hive-worker ${facts.version}`,
    `  server     ${settings.serverUrl}${settings.token === '' ? '' : ` (with token: ${settings.tokenFrom})`}`,
    ...(sendsTokenInClearText(settings.serverUrl, settings.token)
      ? [`  WARNING    ${CLEAR_TEXT_WARNING}`]
      : []),
    `  proxy      ${describeProxy(settings.proxy)}`,
    ...(settings.caFile === undefined
      ? []
      : [
          `  CA file    ${settings.caFile.path} (${settings.caFile.certificates.length} certificate(s), trusted on top of the system's)`,
        ]),
    `  worker id  ${facts.workerId}`,
    `  data       ${facts.dataDir}`,
    `  log file   ${facts.logFile}`,
    ...(facts.console === undefined ? [] : [`  console    ${describeConsole(facts.console)}`]),
    `  tasks      ${Object.keys(facts.registry).join(', ')}${atOnce}`,
    ...(facts.supervisor === 'systemd'
      ? ['  started by the systemd user unit (an update restarts the unit)']
      : []),
  ];
  // One record per line: the console prints a record on one line, its controls escaped.
  for (const line of lines) log.info(line);
}
