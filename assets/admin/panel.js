// @ts-check
/** @import { AdminApi, ApiError, MaintenanceView } from '../../src/http/admin/api-types.ts' */
// The admin panel: signs in with a bearer token (traded for a session cookie), shows what users
// get now (the effective state: switch or window) and how far the fleet follows it, live through
// the event stream; toggles, sets and clears a window, makes bypass links. Every state-changing
// call sends the session's CSRF token.
/** @param {string} id */
const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id));
/** A form field (input, textarea, select): each has a value. @param {string} id */
const field = (id) => /** @type {HTMLInputElement} */ (document.getElementById(id));
/** @param {string} id */
const buttonById = (id) => /** @type {HTMLButtonElement} */ (document.getElementById(id));
/** @type {string | null} */
let csrfToken = null;
/** @type {MaintenanceView | null} */
let current = null;
/** @type {EventSource | null} */
let stream = null;
let streamErrors = 0;
/** The wait before the panel reopens a stream the browser gave up on: doubled each time, up to 30 s. */
const STREAM_RETRY_FIRST_MS = 1000;
const STREAM_RETRY_MAX_MS = 30_000;
let streamRetryMs = STREAM_RETRY_FIRST_MS;
/** @type {ReturnType<typeof setTimeout> | undefined} */
let streamRetryTimer;

/**
 * One call of the admin API, named as "METHOD /path": its data is what that call answers on
 * success, or an ApiError (whose `message` the panel shows) on failure.
 * @template {keyof AdminApi} R
 * @param {R} route
 * @param {unknown} [body]
 * @returns {Promise<{ status: number, data: AdminApi[R] & Partial<ApiError> }>}
 */
async function api(route, body) {
  const [method, path] = route.split(' ');
  /** @type {Record<string, string>} */
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
  const response = await fetch(path, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: 'same-origin',
  });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  return { status: response.status, data };
}

function notice(text, isError = false) {
  const element = $('notice');
  element.textContent = text;
  element.className = isError ? 'error' : '';
  element.hidden = !text;
}

/** @type {ReturnType<typeof setTimeout> | undefined} */
let toastTimer;
/** The switch position the toast on screen announces, so a live state that contradicts it removes it. */
/** @type {'off' | 'on' | 'read-only' | null} */
let toastSays = null;
/** The form the user sent last: its answer goes right below it. */
/** @type {Element | null} */
let lastForm = null;
document.addEventListener('submit', (event) => (lastForm = /** @type {Element} */ (event.target)), true);
/**
 * Success (or failure) the user cannot miss, gone after a few seconds. It sits in the page's
 * flow right after the form that was used, never over a control.
 * @param {string} text
 * @param {boolean} [isError]
 * @param {{ switchIs?: 'off' | 'on' | 'read-only' }} [claim]
 */
function toast(text, isError = false, claim = {}) {
  const element = $('toast');
  element.textContent = text;
  element.className = isError ? 'error' : '';
  (lastForm && !lastForm.closest('[hidden]') ? lastForm : $('state')).after(element);
  element.hidden = false;
  toastSays = claim.switchIs ?? null;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(hideToast, 5000);
}

/** An earlier answer goes when a form shows its own error: a stale success never stands beside it. */
function hideToast() {
  clearTimeout(toastTimer);
  $('toast').hidden = true;
  toastSays = null;
}

/**
 * "2026-11-28 22:00 UTC", with the seconds when there are any ("22:00:37 UTC"): a bound is never
 * shown at an earlier minute than it is. Every time shown carries its zone.
 * @param {string | null | undefined} iso
 */
function utc(iso) {
  if (!iso) return null;
  const seconds = iso.slice(17, 19);
  return `${iso.slice(0, 10)} ${iso.slice(11, seconds === '00' || seconds === '' ? 16 : 19)} UTC`;
}

/**
 * A moment in UTC, and in the viewer's own zone beside it only when that zone is not UTC.
 * @param {string} iso
 */
function moment(iso) {
  const inUtc = utc(iso);
  return new Date(iso).getTimezoneOffset() === 0 ? inUtc : `${inUtc} (${local(iso)} your time)`;
}

/** The same moment in the browser's zone, with the zone's name. */
function local(iso) {
  return iso
    ? new Date(iso).toLocaleString(undefined, {
        year: 'numeric',
        month: 'short',
        day: 'numeric',
        hour: '2-digit',
        minute: '2-digit',
        ...(new Date(iso).getUTCSeconds() === 0 ? {} : { second: '2-digit' }),
        timeZoneName: 'short',
      })
    : '';
}

function duration(ms) {
  const seconds = Math.max(0, Math.round(ms / 1000));
  if (seconds < 60) return `${seconds} s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 60) return `${minutes} min ${seconds % 60} s`;
  const hours = Math.floor(minutes / 60);
  return hours < 48 ? `${hours} h ${minutes % 60} min` : `${Math.floor(hours / 24)} days ${hours % 24} h`;
}

/** `system:serviceaccount:sample-app:operator` reads "service account operator (sample-app)". */
function identity(element, user) {
  const account = /^system:serviceaccount:([^:]+):(.+)$/.exec(user ?? '');
  const token = /^token:(.+)$/.exec(user ?? '');
  element.textContent = account
    ? `service account ${account[2]} (${account[1]})`
    : token
      ? `${token[1]} (static token)`
      : (user ?? 'someone');
  element.title = user ?? '';
}

/** @param {MaintenanceView} state */
function renderHeadline(state) {
  const effective = state.effective ?? {
    active: state.enabled,
    readOnly: state.mode === 'read-only',
    mode: state.mode,
    cause: state.mode !== 'off' ? 'switch' : null,
    nextChangeAt: null,
  };
  const badge = $('state-badge');
  badge.textContent = effective.active ? 'On' : effective.readOnly ? 'Read-only' : 'Off';
  badge.className = `badge ${effective.active ? 'on' : effective.readOnly ? 'read-only' : 'off'}`;
  const until = state.end ? ` until ${utc(state.end)}` : '';
  const cause = effective.cause === 'window' ? `scheduled window${until}` : 'switch';
  $('state-text').textContent = effective.active
    ? `Maintenance is on (${cause}): users get the maintenance page`
    : effective.readOnly
      ? `Read-only (${cause}): users can read, and their changes get the maintenance page`
      : 'Maintenance is off: users are served';
  const countdown = $('state-countdown');
  const next = nextChange(state, effective);
  countdown.textContent = next ?? '';
  countdown.hidden = next === null;
}

/**
 * What changes by itself next, and when; null when nothing will. While the switch is on, no
 * window edge changes anything, and the panel says so instead of counting down to one.
 * @param {MaintenanceView} state
 * @param {{ active: boolean, cause: string | null, nextChangeAt: string | null }} effective
 */
function nextChange(state, effective) {
  const now = Date.now();
  /** @param {string | null} iso */
  const ahead = (iso) => iso !== null && Date.parse(iso) > now;
  if (effective.cause === 'switch') {
    return ahead(state.start) || ahead(state.end)
      ? `The switch holds maintenance on: the window (${utc(state.start) ?? 'open'} → ${utc(state.end) ?? 'open'}) changes nothing until the switch is turned off.`
      : null;
  }
  const at = effective.nextChangeAt;
  if (at === null || !ahead(at)) return null;
  const when = `in ${duration(Date.parse(at) - now)}, at ${moment(at)}`;
  if (effective.active) return `The window ends ${when}.`;
  return `Maintenance starts ${when}${state.end ? `, and ends at ${utc(state.end)}` : ''}.`;
}

/**
 * The form only while links can be made; otherwise one line: why not, and how to enable them here.
 * @param {MaintenanceView['bypassLinks']} links
 */
function renderBypassLinks(links) {
  $('bypass-form').hidden = !links.available;
  const off = $('bypass-off');
  off.hidden = links.available;
  off.textContent = links.available ? '' : `Unavailable: ${links.problem}. To enable them: ${links.enable}`;
}

/**
 * What is stored and why it is rejected, apart from what users get: every key as written
 * (text, never markup) with its problem, and the repair.
 * @param {MaintenanceView} state
 */
function renderRejected(state) {
  const box = $('rejected');
  box.hidden = state.rejected === null;
  if (state.rejected === null) return;
  $('rejected-why').textContent =
    state.shows === 'last_good'
      ? 'Users get the last good state shown above, which every pod keeps applying until the stored config is valid again.'
      : 'No valid config was ever applied: pods that follow the switch are not ready. Store one to start serving.';
  $('rejected-keys').replaceChildren(
    ...state.rejected.keys.map(({ key, value, problem }) => {
      const item = document.createElement('li');
      const name = document.createElement('code');
      name.textContent = key;
      item.append(name, ` = ${value === null ? '(not set)' : JSON.stringify(value)}`, problem ? `: rejected, ${problem}` : '');
      if (problem) item.className = 'error';
      return item;
    }),
  );
  $('repair-button').textContent = state.shows === 'last_good' ? 'Store the last good state again' : 'Store maintenance off';
}

/** The latest changes, newest first: asked again whenever the state changes. */
async function loadHistory() {
  const { status, data } = await api('GET /admin/api/history');
  if (status !== 200) return;
  $('history').hidden = data.changes.length === 0;
  $('history-list').replaceChildren(
    ...data.changes.map(({ at, by, reason, what, outside }) => {
      const item = document.createElement('li');
      const who = document.createElement('span');
      identity(who, by);
      item.append(`${utc(at) ?? ''}: `, who, ` ${outside ? '' : 'changed '}${what}${reason ? `: ${reason}` : ''}`);
      return item;
    }),
  );
}

/** @param {MaintenanceView} state */
function renderFleet(state) {
  const fleet = state.fleet;
  $('fleet').hidden = !fleet;
  if (!fleet) return;
  const active = state.effective?.active ?? state.enabled;
  const total = fleet.serving + fleet.notServing + fleet.terminating;
  const summary = active
    ? `${fleet.notServing + fleet.terminating} of ${total} user pods out of service`
    : `${fleet.serving} of ${total} user pods serving${state.effective?.readOnly ? ' read-only' : ''}`;
  const since = fleet.changedAt ? Date.now() - Date.parse(fleet.changedAt) : null;
  $('fleet-summary').textContent = !fleet.synced
    ? `Reading the endpoints of ${fleet.service}…`
    : fleet.converged
      ? `${summary} · ${fleet.convergenceSeconds !== null ? `converged in ${fleet.convergenceSeconds} s` : 'converged'}`
      : `${summary} · converging${since !== null ? ` for ${duration(since)}` : ''}`;
  const list = $('fleet-pods');
  list.replaceChildren(
    ...fleet.pods.map((pod) => {
      const item = document.createElement('li');
      const name = document.createElement('code');
      name.textContent = pod.name;
      const stateText = document.createElement('span');
      stateText.className = `state-${pod.state}`;
      stateText.textContent = `${pod.state === 'serving' ? 'serving' : pod.state === 'not_serving' ? 'out of service' : 'terminating'} since ${utc(pod.since)}`;
      item.append(name, stateText);
      return item;
    }),
  );
  const gate = $('fleet-gate');
  gate.hidden = !fleet.gateProblem;
  gate.textContent = fleet.gateProblem ? `Not in maintenance with the switch: ${fleet.gateProblem}.` : '';
  renderNudge(state.nudge);
  renderServing(state.serving);
  renderAutoscaling(state.autoscaling, active);
  const warning = $('fleet-warning');
  const late = !fleet.converged && fleet.synced && since !== null && since > fleet.warnAfterSeconds * 1000;
  const down = fleet.watch.connection !== 'watching' && fleet.watch.lastError !== null;
  warning.hidden = !late && !down;
  if (late) {
    warning.textContent = `Not converged ${duration(since)} after the change: ${fleet.lagging.join(', ') || 'no user pod'} ${active ? 'still serving' : 'still out of service'}.
Likely causes: pods that follow the mounted volume wait for the kubelet's sync (about a minute, up to 90 s); a subPath mount never updates; or the pod's source is down (its /status says volume.watch or api.connection).`;
  } else if (down) {
    warning.textContent = `The EndpointSlice watch is down (${fleet.watch.lastError ?? 'no detail'}): the pods above may be out of date.`;
  }
}

/**
 * Whether the app's autoscalers are held while maintenance is on, and what the hold could not do.
 * @param {MaintenanceView['autoscaling']} hold
 * @param {boolean} active
 */
function renderAutoscaling(hold, active) {
  const line = $('fleet-autoscaling');
  const problems = hold?.problems ?? [];
  const unguarded = hold?.guard.state === 'unguarded' || hold?.guard.state === 'forbidden';
  line.hidden = !hold || (!active && problems.length === 0 && hold.held.length === 0 && !unguarded);
  if (!hold || line.hidden) return;
  line.className = problems.length > 0 || unguarded || (active && hold.state === 'off') ? 'warning' : 'muted';
  const held = hold.held.map(
    (entry) =>
      `at ${entry.replicas} pods since ${utc(entry.since)} (${entry.kind} ${entry.name}${entry.releasesAt ? `, until ${utc(entry.releasesAt)} while users come back` : ''})`,
  );
  const failed = problems.map((problem) => (problem.name ? `${problem.kind} ${problem.name}: ${problem.problem}` : problem.problem));
  line.textContent = [
    hold.state === 'off'
      ? 'Autoscaling is not held (AUTOSCALING_HOLD=off): an autoscaler may shrink the idle fleet during maintenance.'
      : held.length > 0
        ? `Autoscaling held ${held.join('; ')}.`
        : active
          ? 'No autoscaler of this app to hold.'
          : '',
    failed.length > 0 ? `The hold failed for ${failed.join('; ')}.` : '',
    hold.guard.state === 'unguarded' || hold.guard.state === 'forbidden' ? `Unguarded: ${hold.guard.problem}` : '',
  ]
    .filter(Boolean)
    .join(' ');
}

/**
 * The sidecar-free mode: which mode the app runs in, and the pods still waiting for their condition.
 * @param {MaintenanceView['serving']} serving
 */
function renderServing(serving) {
  const line = $('fleet-serving');
  line.hidden = !serving;
  if (!serving) return;
  const problems = [];
  if (serving.guard.state !== 'guarded')
    problems.push(`The admin sets no condition: ${'problem' in serving.guard ? serving.guard.problem : ''}`);
  if (serving.waiting.length > 0)
    problems.push(`Waiting for their condition (not Ready until the admin writes it): ${serving.waiting.join(', ')}.`);
  if (serving.failedClosed) problems.push('Read-only is held as maintenance: this mode has no proxy to refuse writes.');
  if (serving.problem) problems.push(serving.problem);
  line.className = problems.length > 0 ? 'warning' : 'muted';
  line.textContent = [
    `Sidecar-free mode: the admin sets the readiness condition of ${serving.pods} pod${serving.pods === 1 ? '' : 's'} (${serving.atLevel} up to date).`,
    ...problems,
  ].join(' ');
}

/** Whether the admin nudges the pods after a change, and the pods that did not follow. @param {MaintenanceView['nudge']} nudge */
function renderNudge(nudge) {
  const line = $('fleet-nudge');
  line.hidden = !nudge;
  if (!nudge) return;
  const guarded = nudge.guard.state === 'guarded';
  line.className = guarded && !nudge.unfollowed ? 'muted' : 'warning';
  if (nudge.unfollowed) {
    line.textContent = `Nudged, and still not following: ${nudge.unfollowed.pods.join(', ')}. Likely causes: ${nudge.unfollowed.likelyCauses}.`;
  } else if (guarded) {
    line.textContent = 'Pods are nudged after each change, so they follow it within seconds.';
  } else {
    line.textContent = `Pods are not nudged, and follow at the kubelet's own sync (up to about 90 s): ${'problem' in nudge.guard ? nudge.guard.problem : ''}`;
  }
}

/** @param {MaintenanceView} state */
function render(state) {
  current = state;
  // A toast that the live state contradicts (someone turned the switch back since) is gone.
  if (toastSays !== null && toastSays !== state.mode) {
    $('toast').hidden = true;
    toastSays = null;
  }
  renderHeadline(state);
  $('state-switch').textContent = state.mode;
  $('state-message').textContent = state.message ?? '(default)';
  $('state-window').textContent =
    state.start || state.end
      ? `${utc(state.start) ?? 'open'} → ${utc(state.end) ?? 'open'}${state.end && new Date(state.end).getTimezoneOffset() !== 0 ? ` (ends ${local(state.end)} your time)` : ''}`
      : 'none';
  $('state-retry').textContent = state.retryAfterSeconds !== null ? `${state.retryAfterSeconds} s` : '(default)';
  const change = $('state-change');
  change.replaceChildren();
  if (state.changedOutside) {
    // kubectl edit, kubectl patch, a GitOps tool: the record below is no longer the latest.
    const outside = document.createElement('strong');
    const { manager, time } = state.changedOutside;
    outside.textContent = `Changed outside the panel and plugin${manager ? ` by ${manager}` : ''}${time ? ` at ${utc(time)}` : ''}; who did it is in the cluster's audit log.`;
    change.append(outside, document.createElement('br'), 'Before that: ');
  }
  if (state.changedBy) {
    const who = document.createElement('span');
    identity(who, state.changedBy);
    change.append(who, `, ${utc(state.changedAt) ?? ''}: ${state.reason ?? ''}`);
  } else {
    change.append('not recorded');
  }
  renderBypassLinks(state.bypassLinks);
  $('state-version').textContent = state.resourceVersion;
  // A resourceVersion is a number worth quoting; in local mode the version is the name of the
  // kubelet-style data directory, which tells a reader nothing: the row is left out.
  const quotable = /^\d+$/.test(state.resourceVersion);
  $('state-version-label').hidden = !quotable;
  $('state-version-value').hidden = !quotable;
  renderRejected(state);
  // A window that holds maintenance on is ended here, in one step: turning the switch on
  // would be the opposite of what anyone wants from the main button then.
  const windowHolds = state.mode !== 'on' && state.effective?.cause === 'window';
  const switchedOn = state.mode !== 'off';
  $('toggle-title').textContent = windowHolds ? 'End the window now' : switchedOn ? 'Turn the switch off' : 'Turn the switch on';
  $('toggle-button').textContent = windowHolds ? 'End maintenance now' : switchedOn ? 'Turn off' : 'Turn on';
  $('toggle-button').className = switchedOn || windowHolds ? 'safe' : 'danger';
  // The other way to be on: read-only from off or on, the whole way from read-only. Offered only
  // where the install enforces read-only; elsewhere the panel says why not.
  const readOnlyButton = buttonById('read-only-button');
  readOnlyButton.textContent =
    state.mode === 'read-only' ? 'Turn on the whole way' : state.mode === 'on' ? 'Read-only instead' : 'Read-only';
  readOnlyButton.hidden = windowHolds || (state.mode !== 'read-only' && state.readOnlyRefused !== null);
  readOnlyButton.className = state.mode === 'read-only' ? 'danger secondary' : 'secondary';
  $('read-only-note').textContent =
    state.readOnlyRefused !== null && !windowHolds ? `Read-only is not available: ${state.readOnlyRefused}` : '';
  $('read-only-note').hidden = state.readOnlyRefused === null || windowHolds;
  if (document.activeElement !== $('message')) field('message').value = state.message ?? '';
  // Turning the switch off shows users nothing, and going from on to read-only keeps the message
  // they see: it is asked for only where maintenance or read-only starts.
  $('message-field').hidden = windowHolds || state.mode === 'on';
  renderFleet(state);
  fillWindowForm(state, false);
  for (const id of ['state', 'toggle', 'window', 'bypass']) $(id).hidden = false;
  void loadHistory();
  // While the stored config is rejected, the one change offered is its repair: a toggle or a
  // window merged into it would be rejected too.
  $('toggle').hidden = state.rejected !== null;
  $('window').hidden = state.rejected !== null;
}

/** datetime-local values are read and written as UTC. */
/** The form keeps a bound's seconds, so saving an unchanged form never moves it to an earlier minute. */
const toInput = (iso) => (iso ? iso.slice(0, 19) : '');
const fromInput = (value) => (value ? `${value.length === 16 ? `${value}:00` : value}Z` : null);

/** @param {MaintenanceView} state @param {boolean} [force] */
function fillWindowForm(state, force) {
  const form = $('window-form');
  if (!force && form.contains(document.activeElement)) return;
  field('window-start').value = toInput(state.start);
  field('window-end').value = toInput(state.end);
  field('retry-after').value = String(state.retryAfterSeconds ?? '');
  showLocalTimes();
}

function showLocalTimes() {
  $('window-start-local').textContent = field('window-start').value ? `= ${local(fromInput(field('window-start').value))}` : '';
  $('window-end-local').textContent = field('window-end').value ? `= ${local(fromInput(field('window-end').value))}` : '';
}

/** The same rules, and the same words, as the API's 400 answers. */
function windowProblem(start, end, retry, reason) {
  if (start && Number.isNaN(Date.parse(start))) return 'start: must be an RFC 3339 timestamp with a time zone';
  if (end && Number.isNaN(Date.parse(end))) return 'end: must be an RFC 3339 timestamp with a time zone';
  if (start && end && Date.parse(end) <= Date.parse(start)) return 'end: must be after start';
  if (retry !== null && (!Number.isInteger(retry) || retry < 1 || retry > 604800))
    return 'retryAfterSeconds: must be a whole number of seconds from 1 to 604800';
  if (reason.trim() === '') return 'reason: is required: say why, in 1 to 500 characters';
  return null;
}

async function saveWindow(start, end, retry) {
  const reason = field('window-reason').value;
  const problem = windowProblem(start, end, retry, reason);
  $('window-error').textContent = problem ?? '';
  $('window-error').hidden = problem === null;
  if (problem) hideToast();
  if (problem || current === null) return;
  // The switch stays as it is: a window added to a read-only switch is refused with the reason, not applied by surprise.
  const body = { reason, start, end, retryAfterSeconds: retry, resourceVersion: current.resourceVersion };
  const { status, data } = await api('PUT /admin/api/maintenance', body);
  if (status === 200) {
    field('window-reason').value = '';
    render(data);
    fillWindowForm(data, true);
    toast(start || end ? `Window saved: ${utc(start) ?? 'open'} → ${utc(end) ?? 'open'}.` : 'Window cleared.');
  } else {
    await failed(status, data);
    if (status === 400) {
      $('window-error').textContent = data.message;
      $('window-error').hidden = false;
    }
  }
}

async function failed(status, data) {
  if (status === 409) {
    toast(data.message, true);
    await load();
  } else if (status === 401) {
    showLogin();
    notice('Your session has ended; sign in again.', true);
  } else {
    toast(data?.message ?? `the change failed (HTTP ${status})`, true);
  }
}

async function load() {
  const { status, data } = await api('GET /admin/api/maintenance');
  if (status === 401) {
    showLogin();
    return status;
  }
  if (status !== 200) {
    notice(data?.message ?? `could not load the state (HTTP ${status})`, true);
    return status;
  }
  render(data);
  return status;
}

/** Says whether the live feed is up: hidden while it is, one line while it is not. */
function liveStatus(text) {
  const element = $('live-status');
  element.textContent = text ?? '';
  element.hidden = text === null;
}

/** Live updates: the stream sends the whole state whenever it or the fleet changes. */
function follow() {
  clearTimeout(streamRetryTimer);
  stream?.close();
  stream = new EventSource('/admin/api/stream');
  const alive = () => {
    streamErrors = 0;
    streamRetryMs = STREAM_RETRY_FIRST_MS;
    liveStatus(null);
  };
  stream.addEventListener('state', (event) => {
    alive();
    render(JSON.parse(event.data));
  });
  stream.addEventListener('heartbeat', alive);
  stream.addEventListener('error', () => {
    if (stream?.readyState === EventSource.CLOSED) {
      // The browser gives up for good on an error answer (a 429 or a 503): retry here, backing off.
      const waitMs = streamRetryMs;
      streamRetryMs = Math.min(streamRetryMs * 2, STREAM_RETRY_MAX_MS);
      liveStatus(`Live updates lost; what you see may be out of date. Retrying in ${Math.round(waitMs / 1000)} s.`);
      streamRetryTimer = setTimeout(async () => {
        if ((await load()) !== 401) follow();
      }, waitMs);
      return;
    }
    // The browser reconnects by itself; after a few failures, ask once why (a 401 shows the sign-in).
    liveStatus('Live updates interrupted; reconnecting.');
    if (++streamErrors === 3) void load();
  });
}

function showLogin() {
  csrfToken = null;
  clearTimeout(streamRetryTimer);
  stream?.close();
  stream = null;
  liveStatus(null);
  $('login').hidden = false;
  for (const id of ['state', 'fleet', 'history', 'toggle', 'window', 'bypass', 'logout']) $(id).hidden = true;
  $('who').textContent = '';
}

async function start() {
  const { status, data } = await api('GET /admin/session');
  if (status !== 200) return showLogin();
  csrfToken = data.csrfToken;
  const who = document.createElement('span');
  identity(who, data.user);
  $('who').replaceChildren('Signed in as ', who);
  $('logout').hidden = data.mode === 'none';
  $('login').hidden = true;
  await load();
  follow();
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const { status, data } = await api('POST /admin/session', { token: field('token').value });
  field('token').value = '';
  if (status !== 200) return notice(data?.message ?? `sign-in failed (HTTP ${status})`, true);
  notice('');
  await start();
});

$('toggle-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (current === null) return;
  const buttons = [buttonById('toggle-button'), buttonById('read-only-button')];
  for (const button of buttons) button.disabled = true;
  const windowHolds = current.mode !== 'on' && current.effective?.cause === 'window';
  const readOnlyPressed = /** @type {SubmitEvent} */ (event).submitter?.id === 'read-only-button';
  /** @type {'off' | 'on' | 'read-only'} */
  const mode = windowHolds
    ? 'off'
    : readOnlyPressed
      ? current.mode === 'read-only'
        ? 'on'
        : 'read-only'
      : current.mode === 'off'
        ? 'on'
        : 'off';
  /** @type {{ mode: 'off' | 'on' | 'read-only', reason: string, resourceVersion: string, message?: string, start?: null, end?: null }} */
  const body = windowHolds
    ? { mode, start: null, end: null, reason: field('reason').value, resourceVersion: current.resourceVersion }
    : { mode, reason: field('reason').value, resourceVersion: current.resourceVersion };
  if (mode !== 'off' && field('message').value.trim() !== '') body.message = field('message').value;
  const { status, data } = await api('PUT /admin/api/maintenance', body);
  for (const button of buttons) button.disabled = false;
  if (status === 200) {
    field('reason').value = '';
    render(data);
    const says =
      data.mode === 'read-only'
        ? 'read-only: users can read, and their changes get the maintenance page'
        : data.mode === 'on'
          ? 'on'
          : 'off';
    const effective = data.effective?.mode;
    toast(
      windowHolds
        ? 'Maintenance ended: the window is cleared and the switch is off.'
        : `The switch is now ${says}.${effective !== undefined && effective !== data.mode ? ` ${effective === 'off' ? 'Maintenance stays off' : effective === 'on' ? 'Maintenance stays on: the window' : 'The window keeps it read-only'}.` : ''}`,
      false,
      { switchIs: data.mode },
    );
  } else {
    await failed(status, data);
  }
});

$('window-form').addEventListener('input', showLocalTimes);
$('window-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const retry = field('retry-after').value === '' ? null : Number(field('retry-after').value);
  await saveWindow(fromInput(field('window-start').value), fromInput(field('window-end').value), retry);
});
$('window-clear').addEventListener('click', async () => {
  const retry = field('retry-after').value === '' ? null : Number(field('retry-after').value);
  await saveWindow(null, null, retry);
});

$('repair-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  if (current === null || current.rejected === null) return;
  const button = buttonById('repair-button');
  button.disabled = true;
  // The last good state, key by key, over the rejected one; or, with none, maintenance off.
  const body =
    current.shows === 'last_good'
      ? {
          mode: current.mode,
          message: current.message,
          start: current.start,
          end: current.end,
          retryAfterSeconds: current.retryAfterSeconds,
          reason: field('repair-reason').value,
          resourceVersion: current.resourceVersion,
        }
      : {
          mode: 'off',
          start: null,
          end: null,
          retryAfterSeconds: null,
          reason: field('repair-reason').value,
          resourceVersion: current.resourceVersion,
        };
  const { status, data } = await api('PUT /admin/api/maintenance', body);
  button.disabled = false;
  if (status === 200) {
    field('repair-reason').value = '';
    render(data);
    toast('The stored config is valid again.');
  } else {
    await failed(status, data);
  }
});

$('bypass-copy').addEventListener('click', async () => {
  const link = field('bypass-link');
  link.select();
  try {
    await navigator.clipboard.writeText(link.value);
    toast('Link copied.');
  } catch {
    toast('Copy it from the box: this browser allows no clipboard here.', true);
  }
});

$('bypass-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  buttonById('bypass-button').disabled = true;
  const body = { reason: field('bypass-reason').value, expiresInSeconds: Number(field('bypass-duration').value) };
  const { status, data } = await api('POST /admin/api/bypass-links', body);
  buttonById('bypass-button').disabled = false;
  if (status === 201) {
    field('bypass-reason').value = '';
    // A whole URL when the admin tier knows the public address (PUBLIC_URL); else the path, for the site's own address.
    field('bypass-link').value = data.url ?? data.path;
    $('bypass-expiry').textContent = `valid until ${utc(data.expiresAt)}`;
    $('bypass-result').hidden = false;
    field('bypass-link').select();
    toast(`Bypass link ${data.id} created.`);
  } else {
    await failed(status, data);
  }
});

$('logout').addEventListener('click', async () => {
  await api('DELETE /admin/session');
  notice('Signed out.');
  showLogin();
});

// The countdown and "converging for" move on their own.
setInterval(() => {
  if (current && !$('state').hidden) {
    renderHeadline(current);
    renderFleet(current);
  }
}, 1000);

start().catch((error) => notice(String(error), true));
