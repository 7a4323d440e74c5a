import { readFileSync } from 'node:fs';
import { documentHead } from '../pages.ts';

/** The panel's script and styles: files of their own, so the CSP can forbid inline code. */
export function loadPanelAssets(): { script: string; styles: string; icon: string } {
  // src/http/admin and dist/http/admin sit at the same depth below the repository root.
  const dir = new URL('../../../assets/admin/', import.meta.url);
  return {
    script: readFileSync(new URL('panel.js', dir), 'utf8'),
    styles: readFileSync(new URL('panel.css', dir), 'utf8'),
    icon: readFileSync(new URL('favicon.svg', dir), 'utf8'),
  };
}

/** A static shell; the script fills it from the JSON API. No inline script, no inline style. */
export function panelPage(): string {
  return `${documentHead(
    'Maintenance switch',
    `<link rel="icon" href="/admin/assets/favicon.svg" type="image/svg+xml">
<link rel="stylesheet" href="/admin/assets/panel.css">
<script type="module" src="/admin/assets/panel.js"></script>`,
  )}
<body>
<header>
  <h1>Maintenance switch</h1>
  <p id="who" class="muted"></p>
  <p id="live-status" class="warning" role="status" hidden></p>
</header>
<main>
  <section id="login" class="card" hidden>
    <h2>Sign in</h2>
    <p class="muted">Paste a bearer token the cluster accepts, for example from <code>kubectl create token NAME</code>.</p>
    <form id="login-form">
      <label for="token">Token</label>
      <input id="token" name="token" type="password" autocomplete="off" required>
      <button type="submit">Sign in</button>
    </form>
  </section>

  <section id="state" class="card" hidden>
    <div class="state-line">
      <span id="state-badge" class="badge"></span>
      <span id="state-text"></span>
    </div>
    <p id="state-countdown" class="muted" hidden></p>
    <dl>
      <dt>Switch</dt><dd id="state-switch"></dd>
      <dt>Message</dt><dd id="state-message"></dd>
      <dt>Window</dt><dd id="state-window"></dd>
      <dt>Retry-After</dt><dd id="state-retry"></dd>
      <dt>Last change</dt><dd id="state-change"></dd>
      <dt id="state-version-label">Version</dt><dd id="state-version-value"><code id="state-version"></code></dd>
    </dl>
    <div id="rejected" class="warning" hidden>
      <p><strong>The stored config is rejected.</strong> <span id="rejected-why"></span></p>
      <ul id="rejected-keys"></ul>
      <form id="repair-form">
        <label for="repair-reason">Reason (required, recorded with your name)</label>
        <input id="repair-reason" name="reason" maxlength="500" required placeholder="e.g. undo a typo made with kubectl edit">
        <button id="repair-button" type="submit" class="safe"></button>
      </form>
    </div>
  </section>

  <section id="fleet" class="card" hidden>
    <h2>User pods</h2>
    <p id="fleet-summary" class="fleet-summary"></p>
    <ul id="fleet-pods"></ul>
    <p id="fleet-gate" class="warning" hidden></p>
    <p id="fleet-nudge" class="muted" hidden></p>
    <p id="fleet-serving" class="muted" hidden></p>
    <p id="fleet-autoscaling" class="muted" hidden></p>
    <p id="fleet-warning" class="warning" hidden></p>
  </section>

  <section id="history" class="card" hidden>
    <h2>History</h2>
    <ol id="history-list"></ol>
  </section>

  <section id="toggle" class="card" hidden>
    <h2 id="toggle-title">Change</h2>
    <form id="toggle-form">
      <div id="message-field">
        <label for="message">Message shown to users</label>
        <textarea id="message" name="message" rows="2" maxlength="2000"></textarea>
      </div>
      <label for="reason">Reason (required, recorded with your name)</label>
      <input id="reason" name="reason" maxlength="500" required placeholder="e.g. database upgrade, ticket OPS-123">
      <button id="toggle-button" type="submit"></button>
      <button id="read-only-button" type="submit" class="secondary" hidden></button>
      <p id="read-only-note" class="muted" hidden></p>
    </form>
  </section>

  <section id="window" class="card" hidden>
    <h2>Scheduled window and Retry-After</h2>
    <p class="muted">Times are UTC. Maintenance is on while the switch is on <em>or</em> now is inside the window; a missing bound is open.</p>
    <form id="window-form" novalidate>
      <label for="window-start">Start (UTC)</label>
      <input id="window-start" name="start" type="datetime-local" step="1"> <span id="window-start-local" class="muted"></span>
      <label for="window-end">End (UTC)</label>
      <input id="window-end" name="end" type="datetime-local" step="1"> <span id="window-end-local" class="muted"></span>
      <label for="retry-after">Retry-After (seconds, 1 to 604800; empty for the default)</label>
      <input id="retry-after" name="retryAfterSeconds" type="number" min="1" max="604800" step="1">
      <label for="window-reason">Reason (required, recorded with your name)</label>
      <input id="window-reason" name="reason" maxlength="500" placeholder="e.g. planned database upgrade OPS-42">
      <p id="window-error" class="error" role="alert" hidden></p>
      <button id="window-save" type="submit">Save window</button>
      <button id="window-clear" type="button" class="secondary">Clear window</button>
    </form>
  </section>

  <section id="bypass" class="card" hidden>
    <h2>Bypass link for testers</h2>
    <p class="muted">Whoever opens it sees the application during maintenance, until it expires. Recorded with your name; rotating the bypass key Secret revokes every link.</p>
    <p id="bypass-off" class="muted" hidden></p>
    <form id="bypass-form">
      <label for="bypass-reason">Who it is for, and why (required)</label>
      <input id="bypass-reason" name="reason" maxlength="500" required placeholder="e.g. QA sign-off for release 42">
      <label for="bypass-duration">Valid for</label>
      <select id="bypass-duration" name="expiresInSeconds">
        <option value="3600">1 hour</option>
        <option value="28800" selected>8 hours</option>
        <option value="86400">1 day</option>
        <option value="604800">7 days</option>
      </select>
      <button id="bypass-button" type="submit">Create link</button>
    </form>
    <p id="bypass-result" hidden><input id="bypass-link" readonly aria-label="Bypass link"> <button id="bypass-copy" type="button" class="secondary">Copy</button> <span id="bypass-expiry" class="muted"></span></p>
  </section>

  <p id="notice" role="status" hidden></p>
  <div id="toast" role="status" aria-live="polite" hidden></div>
  <p><button id="logout" type="button" class="link" hidden>Sign out</button></p>
</main>
</body>
</html>`;
}
