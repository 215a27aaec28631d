// The /docs page in a real headless browser (Debian's chromium, which .ci/run installs): it loads
// from a listening server and lists every operation of /openapi.json.
import { existsSync } from 'node:fs';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fixtureConfig, TEXT_MODELS } from '../helpers/fixtures.ts';
import { startServer } from '../helpers/server.ts';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((path) => existsSync(path));
if (!CHROMIUM) console.warn('docs-browser: skipped — no chromium at /usr/bin/chromium (.ci/run installs it with apt-get)');

describe.skipIf(!CHROMIUM)('/docs in headless chromium', () => {
  let server: Awaited<ReturnType<typeof startServer>>;
  let browser: Browser;
  beforeAll(async () => {
    server = await startServer(fixtureConfig([...TEXT_MODELS]));
    browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
  }, 60_000);
  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('the page loads without errors and lists every route of the OpenAPI document', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(String(err)));
    const response = await page.goto(`${server.url}/docs`, { waitUntil: 'load' });
    expect(response?.status()).toBe(200);
    expect(await page.title()).toBe('ovserve API');
    const listed = await page.$$eval('li.operation', (items) => items.map((li) => `${li.getAttribute('data-method')} ${li.getAttribute('data-path')}`));
    const doc = (await (await fetch(`${server.url}/openapi.json`)).json()) as { paths: Record<string, Record<string, unknown>> };
    const expected = Object.entries(doc.paths).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`));
    expect(listed.sort()).toEqual(expected.sort());
    expect(listed).toContain('POST /v3/chat/completions');
    // The machine-readable document is one click away.
    await page.click('a[href="/openapi.json"]');
    // Evaluated in the page (a string: this project's TypeScript has no DOM types).
    expect(await page.evaluate('JSON.parse(document.body.innerText).openapi')).toBe('3.1.0');
    expect(errors).toEqual([]);
  }, 60_000);
});
