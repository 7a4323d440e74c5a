// The admin panel: signs in with a bearer token (traded for a session cookie), shows the
// stored state and toggles it. Every state-changing call sends the session's CSRF token.
const $ = (id) => document.getElementById(id);
let csrfToken = null;
let current = null;

async function api(method, path, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (csrfToken) headers['X-CSRF-Token'] = csrfToken;
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), credentials: 'same-origin' });
  const data = response.status === 204 ? null : await response.json().catch(() => null);
  return { status: response.status, data };
}

function notice(text, isError = false) {
  const element = $('notice');
  element.textContent = text;
  element.className = isError ? 'error' : '';
  element.hidden = !text;
}

function formatTime(iso) {
  return iso ? new Date(iso).toLocaleString() : null;
}

function render(state) {
  current = state;
  const on = state.enabled;
  $('state-badge').textContent = on ? 'On' : 'Off';
  $('state-badge').className = `badge ${on ? 'on' : 'off'}`;
  $('state-text').textContent = on ? 'Maintenance is on: users get the maintenance page' : 'Maintenance is off: users are served';
  $('state-message').textContent = state.message ?? '(default)';
  $('state-window').textContent = state.start || state.end
    ? `${formatTime(state.start) ?? 'open'} → ${formatTime(state.end) ?? 'open'}`
    : 'none';
  $('state-change').textContent = state.changedBy
    ? `${state.changedBy}, ${formatTime(state.changedAt)}: ${state.reason ?? ''}`
    : 'not recorded';
  $('state-version').textContent = state.resourceVersion;
  $('config-error').textContent = state.configError ? `The stored config is invalid: ${state.configError}` : '';
  $('config-error').hidden = !state.configError;
  $('toggle-title').textContent = on ? 'Turn maintenance off' : 'Turn maintenance on';
  $('toggle-button').textContent = on ? 'Turn off' : 'Turn on';
  $('toggle-button').className = on ? 'safe' : 'danger';
  $('message').value = state.message ?? '';
  $('state').hidden = false;
  $('toggle').hidden = false;
  $('bypass').hidden = false;
}

async function load() {
  const { status, data } = await api('GET', '/admin/api/maintenance');
  if (status === 401) return showLogin();
  if (status !== 200) return notice(data?.message ?? `could not load the state (HTTP ${status})`, true);
  render(data);
}

function showLogin() {
  csrfToken = null;
  $('login').hidden = false;
  $('state').hidden = true;
  $('toggle').hidden = true;
  $('bypass').hidden = true;
  $('logout').hidden = true;
  $('who').textContent = '';
}

async function start() {
  const { status, data } = await api('GET', '/admin/session');
  if (status !== 200) return showLogin();
  csrfToken = data.csrfToken;
  $('who').textContent = `Signed in as ${data.user}`;
  $('logout').hidden = data.mode === 'none';
  $('login').hidden = true;
  await load();
}

$('login-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const { status, data } = await api('POST', '/admin/session', { token: $('token').value });
  $('token').value = '';
  if (status !== 200) return notice(data?.message ?? `sign-in failed (HTTP ${status})`, true);
  notice('');
  await start();
});

$('toggle-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  const button = $('toggle-button');
  button.disabled = true;
  const body = { enabled: !current.enabled, reason: $('reason').value, resourceVersion: current.resourceVersion };
  if ($('message').value.trim() !== '') body.message = $('message').value;
  const { status, data } = await api('PUT', '/admin/api/maintenance', body);
  button.disabled = false;
  if (status === 200) {
    $('reason').value = '';
    render(data);
    notice(`Maintenance is now ${data.enabled ? 'on' : 'off'}.`);
  } else if (status === 409) {
    notice(data.message, true);
    await load();
  } else if (status === 401) {
    showLogin();
    notice('Your session has ended; sign in again.', true);
  } else {
    notice(data?.message ?? `the change failed (HTTP ${status})`, true);
  }
});

$('bypass-form').addEventListener('submit', async (event) => {
  event.preventDefault();
  $('bypass-button').disabled = true;
  const body = { reason: $('bypass-reason').value, expiresInSeconds: Number($('bypass-duration').value) };
  const { status, data } = await api('POST', '/admin/api/bypass-links', body);
  $('bypass-button').disabled = false;
  if (status === 201) {
    $('bypass-reason').value = '';
    // A whole URL when the admin tier knows the public address (PUBLIC_URL); else the path, for the site's own address.
    $('bypass-link').value = data.url ?? data.path;
    $('bypass-expiry').textContent = `valid until ${data.expiresAt.replace('T', ' ').replace(/:\d\d(\.\d+)?Z$/, ' UTC')}`;
    $('bypass-result').hidden = false;
    $('bypass-link').select();
    notice(`Bypass link ${data.id} created.`);
  } else if (status === 401) {
    showLogin();
    notice('Your session has ended; sign in again.', true);
  } else {
    notice(data?.message ?? `the link could not be made (HTTP ${status})`, true);
  }
});

$('logout').addEventListener('click', async () => {
  await api('DELETE', '/admin/session');
  notice('Signed out.');
  showLogin();
});

start().catch((error) => notice(String(error), true));
