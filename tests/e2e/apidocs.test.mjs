// The /api/docs page in Chromium: its script fills one row per operation from
// /api/openapi.json, with the role and the route's description, under the page's CSP.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkedPage, closeBrowserAndServer, launchBrowser, requireEnv, Server } from './harness.mjs';

describe('/api/docs', () => {
  const binary = requireEnv('INFRAMON_BIN', 'run through ctest (make test), which sets it');
  const dockerHost = requireEnv('INFRAMON_TEST_DOCKER_HOST', 'run `make test`, which starts a private engine');
  const problems = [];
  let server;
  let browser;

  before(async () => {
    server = new Server(binary, dockerHost);
    await server.start();
    browser = await launchBrowser();
  });

  after(async () => {
    await closeBrowserAndServer(browser, server, problems);
  });

  test('lists each operation with its role and description', async () => {
    const context = await browser.newContext();
    const page = await checkedPage(context, problems);
    await page.goto(`${server.url}/api/docs`);
    const row = page.locator('#routes tr', { hasText: '/api/v1/containers/{id}/stop' });
    await row.waitFor();
    const cells = await row.locator('td').allTextContents();
    assert.deepEqual(cells.slice(0, 3), ['POST', '/api/v1/containers/{id}/stop', 'operator']);
    assert.ok(cells[3].length > 0, 'the description cell is empty');
    assert.notEqual(cells[3], '/api/v1/containers/{id}/stop');
    const doc = await (await fetch(`${server.url}/api/openapi.json`)).json();
    const operations = Object.values(doc.paths).reduce((n, item) => n + Object.keys(item).length, 0);
    assert.equal(await page.locator('#routes tr').count(), operations);
    assert.deepEqual(problems, []);
    await context.close();
  });
});
