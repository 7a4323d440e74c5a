import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { CUSTOM_PAGE_HEADERS, MAINTENANCE_PAGE_HEADERS, demoPage, formatUntil, maintenancePage } from '../../src/http/pages.ts';

const styleOf = (page: string) => /<style>([\s\S]*?)<\/style>/.exec(page)![1]!;

describe('the rendered pages', () => {
  it('carry their stylesheet unescaped, so the font rule survives', () => {
    const page = demoPage('pod-1', 'user');
    expect(styleOf(page)).toContain('"Segoe UI"');
    expect(page).not.toContain('&quot;Segoe UI&quot;');
  });

  it('are allowed their one stylesheet by its hash, and nothing else', () => {
    const hash = createHash('sha256')
      .update(styleOf(maintenancePage({ message: 'm', retryAfterSeconds: 60, until: null })))
      .digest('base64');
    const csp = MAINTENANCE_PAGE_HEADERS['Content-Security-Policy']!;
    expect(csp).toContain(`style-src 'sha256-${hash}'`);
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toMatch(/unsafe|script-src/);
    expect(demoPage('p', 'user')).not.toMatch(/style="|<script/);
    expect(MAINTENANCE_PAGE_HEADERS).toMatchObject({
      'X-Robots-Tag': 'noindex',
      'X-Content-Type-Options': 'nosniff',
      'Referrer-Policy': 'no-referrer',
    });
  });

  it('say until when a window ends, and in how long otherwise', () => {
    expect(maintenancePage({ message: 'Upgrading', retryAfterSeconds: 3600, until: '22:00 UTC' })).toContain(
      'Maintenance lasts until 22:00 UTC.',
    );
    expect(maintenancePage({ message: 'Upgrading', retryAfterSeconds: 600, until: null })).toContain(
      'Please try again in about 10 minutes.',
    );
    expect(maintenancePage({ message: 'Upgrading', retryAfterSeconds: 30, until: null })).toContain('in about a minute');
  });
});

describe('your own page (MAINTENANCE_PAGE_HTML)', () => {
  const template = '<h1>Shop</h1><p>{{message}}</p><p title="{{message}}">{{ until }}</p><p>{{retryAfterSeconds}}</p><p>{{other}}</p>';

  it('is your markup as you wrote it, with each placeholder filled in escaped', () => {
    const page = maintenancePage({ message: '<script>alert("x")</script> & \'co\'', retryAfterSeconds: 600, until: '22:00 UTC', template });
    expect(page).toBe(
      '<h1>Shop</h1><p>&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;co&#39;</p><p title="&#60;script&#62;alert(&#34;x&#34;)&#60;/script&#62; &#38; &#39;co&#39;">22:00 UTC</p><p>600</p><p>{{other}}</p>',
    );
    expect(maintenancePage({ message: 'Back soon', retryAfterSeconds: 60, until: null, template })).toContain(
      '<p title="Back soon"></p><p>60</p>',
    );
  });

  it('follows a new template at once, even with the same message', () => {
    const first = maintenancePage({ message: 'm', retryAfterSeconds: 60, until: null, template: '<p>A {{message}}</p>' });
    const second = maintenancePage({ message: 'm', retryAfterSeconds: 60, until: null, template: '<p>B {{message}}</p>' });
    expect([first, second]).toEqual(['<p>A m</p>', '<p>B m</p>']);
    expect(maintenancePage({ message: 'm', retryAfterSeconds: 60, until: null })).toContain("We'll be back soon");
  });

  it('runs no script, posts nothing and is framed by nobody; its styles, images and fonts may be inline or on https', () => {
    const csp = CUSTOM_PAGE_HEADERS['Content-Security-Policy']!;
    expect(csp).toBe(
      "default-src 'none'; style-src 'unsafe-inline' https:; img-src data: https:; font-src data: https:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    expect(CUSTOM_PAGE_HEADERS).toMatchObject({
      'X-Robots-Tag': 'noindex',
      'X-Content-Type-Options': 'nosniff',
      'X-Frame-Options': 'DENY',
    });
  });
});

describe('formatUntil', () => {
  const now = Date.parse('2026-11-28T10:00:00Z');
  it('gives the time within a day, and the date too beyond', () => {
    expect(formatUntil(Date.parse('2026-11-28T22:00:00Z'), now)).toBe('22:00 UTC');
    expect(formatUntil(Date.parse('2026-11-30T22:00:00Z'), now)).toBe('2026-11-30 22:00 UTC');
    expect(formatUntil(Date.parse('9999-12-31T23:59:59Z'), now)).toBe('9999-12-31 23:59 UTC');
    // Between minutes, the end is rounded up: the window is still on at 08:00.
    expect(formatUntil(Date.parse('2026-11-28T08:00:37Z'), now)).toBe('08:01 UTC');
    expect(formatUntil(Date.parse('2026-11-28T08:00:00.001Z'), now)).toBe('08:01 UTC');
    expect(formatUntil(Date.parse('2026-11-28T23:59:30Z'), now)).toBe('00:00 UTC');
  });
});
