/**
 * A headless Chromium (Debian's, /usr/bin/chromium, installed by scripts/ensure-tools.sh) driven
 * over the Chrome DevTools Protocol with Node's built-in WebSocket: open a page, evaluate script
 * in it, wait for a condition, take a screenshot. For the dashboard test and
 * scripts/dashboard-screenshot.ts.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const CHROMIUM = process.env.HIVE_CHROMIUM ?? '/usr/bin/chromium';

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };

export class Browser {
  readonly #child: ChildProcess;
  readonly #socket: WebSocket;
  readonly #profileDir: string;
  readonly #pending = new Map<number, Pending>();
  #nextId = 1;

  private constructor(child: ChildProcess, socket: WebSocket, profileDir: string) {
    this.#child = child;
    this.#socket = socket;
    this.#profileDir = profileDir;
    socket.addEventListener('message', (event) => {
      const message = JSON.parse(String(event.data)) as {
        id?: number;
        result?: unknown;
        error?: { message: string };
      };
      const pending = message.id === undefined ? undefined : this.#pending.get(message.id);
      if (pending === undefined || message.id === undefined) return;
      this.#pending.delete(message.id);
      if (message.error !== undefined) pending.reject(new Error(`CDP: ${message.error.message}`));
      else pending.resolve(message.result);
    });
  }

  /** Starts Chromium headless with a fresh profile and connects to its DevTools socket. */
  static async launch(): Promise<Browser> {
    const profileDir = mkdtempSync(join(tmpdir(), 'hive-chromium-'));
    const child = spawn(
      CHROMIUM,
      [
        '--headless',
        '--no-sandbox', // tests run as root in containers, where the sandbox cannot start
        '--disable-gpu',
        '--disable-dev-shm-usage',
        '--no-first-run',
        '--no-default-browser-check',
        '--remote-debugging-port=0',
        `--user-data-dir=${profileDir}`,
        'about:blank',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    let output = '';
    const endpoint = await new Promise<string>((resolve, reject) => {
      const lines = createInterface({ input: child.stderr ?? process.stdin });
      lines.on('line', (line) => {
        output += `${line}\n`;
        const match = /DevTools listening on (ws:\/\/\S+)/.exec(line);
        if (match?.[1] !== undefined) resolve(match[1]);
      });
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`chromium exited (${code}):\n${output}`)));
      setTimeout(
        () => reject(new Error(`chromium gave no DevTools URL:\n${output}`)),
        30_000,
      ).unref();
    });
    child.stderr?.resume();
    const socket = new WebSocket(endpoint);
    await new Promise((resolve, reject) => {
      socket.addEventListener('open', resolve, { once: true });
      socket.addEventListener('error', () => reject(new Error('CDP socket failed')), {
        once: true,
      });
    });
    return new Browser(child, socket, profileDir);
  }

  send<T = unknown>(method: string, params: object = {}, sessionId?: string): Promise<T> {
    const id = this.#nextId++;
    const sent = new Promise<T>((resolve, reject) => {
      this.#pending.set(id, { resolve: resolve as (value: unknown) => void, reject });
    });
    this.#socket.send(JSON.stringify({ id, method, params, ...(sessionId && { sessionId }) }));
    return sent;
  }

  /** A new tab of `width`×`height` CSS pixels. */
  async newPage(width = 1280, height = 800): Promise<Page> {
    const { targetId } = await this.send<{ targetId: string }>('Target.createTarget', {
      url: 'about:blank',
    });
    const { sessionId } = await this.send<{ sessionId: string }>('Target.attachToTarget', {
      targetId,
      flatten: true,
    });
    const page = new Page(this, sessionId);
    await page.send('Emulation.setDeviceMetricsOverride', {
      width,
      height,
      deviceScaleFactor: 1,
      mobile: false,
    });
    return page;
  }

  async close(): Promise<void> {
    this.#socket.close();
    if (this.#child.exitCode === null && this.#child.signalCode === null) {
      const exited = new Promise((resolve) => this.#child.once('exit', resolve));
      this.#child.kill('SIGKILL');
      await exited;
    }
    rmSync(this.#profileDir, { recursive: true, force: true });
  }
}

export class Page {
  readonly #browser: Browser;
  readonly #sessionId: string;

  constructor(browser: Browser, sessionId: string) {
    this.#browser = browser;
    this.#sessionId = sessionId;
  }

  send<T = unknown>(method: string, params: object = {}): Promise<T> {
    return this.#browser.send<T>(method, params, this.#sessionId);
  }

  async goto(url: string): Promise<void> {
    await this.send('Page.navigate', { url });
    await this.waitFor('document.readyState === "complete"');
  }

  /** The value of `expression` (awaited when it is a promise), as JSON. Throws what it throws. */
  async evaluate<T = unknown>(expression: string): Promise<T> {
    const answer = await this.send<{
      result: { value?: unknown };
      exceptionDetails?: { exception?: { description?: string }; text: string };
    }>('Runtime.evaluate', { expression, awaitPromise: true, returnByValue: true });
    if (answer.exceptionDetails !== undefined) {
      const { exception, text } = answer.exceptionDetails;
      throw new Error(`in the page: ${exception?.description ?? text}`);
    }
    return answer.result.value as T;
  }

  /** Polls `expression` until it is truthy and returns its value. */
  async waitFor<T = unknown>(expression: string, timeoutMs = 15_000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const value = await this.evaluate<T>(expression);
      if (value) return value;
      if (Date.now() > deadline)
        throw new Error(`waited ${timeoutMs} ms for ${expression} (last: ${String(value)})`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  /** A PNG of the whole page (or of the viewport's height when shorter). */
  async screenshot(): Promise<Buffer> {
    const { data } = await this.send<{ data: string }>('Page.captureScreenshot', {
      format: 'png',
      captureBeyondViewport: true,
    });
    return Buffer.from(data, 'base64');
  }
}
