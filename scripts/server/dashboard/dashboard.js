// The dashboard's script: polls GET api/admin/overview with the admin token (kept in this tab's
// sessionStorage, sent as a Bearer header) and renders it with textContent only, so whatever a
// task id, payload, error or log says is shown as text, never run as markup.

const TOKEN_KEY = 'hive-admin-token';
const POLL_MS = 1000;
const API = new URL('api/', document.baseURI);

function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? '';
}

async function callApi(method, path, body) {
  const headers = {};
  if (token() !== '') headers.authorization = `Bearer ${token()}`;
  if (body !== undefined) headers['content-type'] = 'application/json';
  const response = await fetch(new URL(path, API), {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    cache: 'no-store',
  });
  const text = await response.text();
  let json;
  try {
    json = text === '' ? undefined : JSON.parse(text);
  } catch {
    json = undefined;
  }
  if (!response.ok) {
    const why = json?.error ?? text;
    const hint =
      response.status === 401 || response.status === 403 ? ' — type the admin token above' : '';
    throw new Error(`${method} ${path}: ${response.status} ${why}${hint}`);
  }
  return json;
}

/** An element with text children (strings become text nodes) and a few attributes. */
function el(tag, attributes, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (name === 'class') node.className = value;
    else if (name === 'style') node.style.cssText = value;
    else node.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === null || child === undefined) continue;
    node.append(typeof child === 'string' ? document.createTextNode(child) : child);
  }
  return node;
}

function ago(iso, nowMs) {
  const seconds = Math.max(0, Math.round((nowMs - Date.parse(iso)) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  return `${Math.round(seconds / 3600)} h ago`;
}

function clock(iso) {
  return new Date(iso).toLocaleTimeString();
}

function fillTable(id, rows, emptyText) {
  const body = document.querySelector(`#${id} tbody`);
  const columns = document.querySelectorAll(`#${id} thead th`).length;
  body.replaceChildren(
    ...(rows.length > 0
      ? rows
      : [el('tr', {}, el('td', { class: 'empty', colspan: String(columns) }, emptyText))]),
  );
}

function cancelButton(taskId) {
  const button = el('button', { type: 'button', 'data-cancel': taskId }, 'Cancel');
  button.addEventListener('click', async () => {
    button.disabled = true;
    try {
      await callApi('POST', `admin/tasks/${encodeURIComponent(taskId)}/cancel`);
      showStatus(`cancelled ${taskId}`);
    } catch (error) {
      showStatus(error.message, true);
    }
    void refresh();
  });
  return button;
}

function progressCell(progress) {
  if (progress === null || typeof progress !== 'object') return el('td', {}, '—');
  const percent = Number(progress.percent);
  const bar = Number.isFinite(percent)
    ? el(
        'div',
        { class: 'bar', title: `${percent}%` },
        el('span', { style: `width:${Math.max(0, Math.min(100, percent))}%` }),
      )
    : null;
  const message = typeof progress.message === 'string' ? progress.message : '';
  return el(
    'td',
    {},
    bar,
    el(
      'div',
      { class: 'muted' },
      `${Number.isFinite(percent) ? `${Math.round(percent)}% ` : ''}${message}`,
    ),
  );
}

function render(overview) {
  const nowMs = Date.parse(overview.now);
  document
    .querySelector('#counts')
    .replaceChildren(
      ...Object.entries(overview.counts).map(([state, count]) =>
        el('li', { 'data-state': state }, `${state} ${count}`),
      ),
    );
  document.querySelector('#queued-count').textContent =
    `(${overview.counts.queued ?? 0}${overview.queued.length < (overview.counts.queued ?? 0) ? `, first ${overview.queued.length} shown` : ''})`;
  document.querySelector('#running-count').textContent = `(${overview.counts.leased ?? 0})`;
  fillTable(
    'running',
    overview.running.map((task) =>
      el(
        'tr',
        { 'data-task': task.id },
        el('td', { class: 'mono nowrap' }, task.id),
        el('td', {}, task.type),
        el('td', { class: 'mono nowrap' }, task.leasedTo ?? ''),
        el('td', {}, String(task.attempt)),
        progressCell(task.progress),
        el('td', {}, task.leaseExpiresAt === null ? '' : clock(task.leaseExpiresAt)),
        el('td', {}, cancelButton(task.id)),
      ),
    ),
    'nothing running',
  );
  fillTable(
    'queued',
    overview.queued.map((task) =>
      el(
        'tr',
        { 'data-task': task.id },
        el('td', { class: 'mono nowrap' }, task.id),
        el('td', {}, task.type),
        el('td', { class: 'mono' }, task.payload),
        el('td', {}, String(task.attempt)),
        el('td', {}, ago(task.createdAt, nowMs)),
        el('td', {}, cancelButton(task.id)),
      ),
    ),
    'the queue is empty',
  );
  fillTable(
    'results',
    overview.results.map((result) => {
      const tookMs = Date.parse(result.finishedAt) - Date.parse(result.startedAt);
      const detail =
        result.error === null ? result.output : `${result.error.code}: ${result.error.message}`;
      const logs = result.logTail
        .map((line) => `${line.level.toUpperCase()} ${line.msg}`)
        .join('\n');
      return el(
        'tr',
        { 'data-task': result.taskId, 'data-status': result.status },
        el('td', { class: 'nowrap' }, clock(result.receivedAt)),
        el('td', { class: 'mono nowrap' }, result.taskId),
        el('td', {}, result.type ?? ''),
        el('td', {}, el('span', { class: `badge ${result.status}` }, result.status)),
        el('td', { class: 'mono' }, detail),
        el('td', { class: 'nowrap' }, Number.isFinite(tookMs) ? `${tookMs} ms` : ''),
        el('td', { class: 'mono nowrap' }, result.workerId),
        el('td', {}, el('pre', { class: 'log' }, logs)),
      );
    }),
    'no results yet',
  );
  fillTable(
    'workers',
    overview.workers.map((worker) =>
      el(
        'tr',
        { 'data-worker': worker.id },
        el('td', { class: 'mono' }, worker.id),
        el('td', {}, worker.version ?? '?'),
        el('td', {}, worker.platform ?? '?'),
        el('td', {}, ago(worker.lastSeenAt, nowMs)),
        el('td', {}, worker.lastRoute),
      ),
    ),
    'no worker has called yet',
  );
  fillTable(
    'releases',
    overview.releases.map((release) =>
      el(
        'tr',
        {},
        el('td', {}, release.platform),
        el('td', {}, release.version),
        el('td', { class: 'mono' }, release.file),
      ),
    ),
    'no releases (start the server with --releases <folder>)',
  );
}

function showStatus(text, isError = false) {
  const status = document.querySelector('#status');
  status.textContent = text;
  status.classList.toggle('error', isError);
}

let timer;
async function refresh() {
  clearTimeout(timer);
  try {
    render(await callApi('GET', 'admin/overview'));
    showStatus(`updated ${new Date().toLocaleTimeString()} · refreshes every second`);
  } catch (error) {
    showStatus(error.message, true);
  }
  timer = setTimeout(refresh, POLL_MS);
}

async function enqueue(event) {
  event.preventDefault();
  const message = document.querySelector('#enqueue-message');
  message.classList.remove('error');
  const type = document.querySelector('#type').value.trim();
  const count = Number(document.querySelector('#count').value);
  let payload;
  try {
    const text = document.querySelector('#payload').value.trim();
    payload = text === '' ? null : JSON.parse(text);
  } catch (error) {
    message.classList.add('error');
    message.textContent = `payload is not JSON: ${error.message}`;
    return;
  }
  let done = 0;
  try {
    for (; done < count; done += 1) await callApi('POST', 'admin/tasks', { type, payload });
    message.textContent = `enqueued ${done} × ${type}`;
  } catch (error) {
    message.classList.add('error');
    message.textContent = `enqueued ${done} of ${count}: ${error.message}`;
  }
  void refresh();
}

document.querySelector('#token-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = document.querySelector('#token');
  sessionStorage.setItem(TOKEN_KEY, input.value.trim());
  input.value = '';
  input.placeholder = 'token set (kept in this tab only)';
  void refresh();
});
document.querySelector('#forget').addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  document.querySelector('#token').placeholder = 'kept in this tab only';
  void refresh();
});
document.querySelector('#enqueue').addEventListener('submit', enqueue);
if (token() !== '')
  document.querySelector('#token').placeholder = 'token set (kept in this tab only)';
void refresh();
