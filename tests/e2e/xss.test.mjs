// Script payloads printed by a real container must appear in the web UI's log view as
// text: no element is created from them, no handler runs, and no CSP violation is raised.
// Covers the lines loaded when the tab opens and a line that arrives on the live stream.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ADMIN_PASSWORD,
  ADMIN_USERNAME,
  checkedPage,
  docker,
  launchBrowser,
  requireEnv,
  Server,
  TEST_IMAGE,
} from './harness.mjs';

const WAIT = 20000;
// Each payload sets window.__xss if the browser ever treats it as markup.
const PAYLOADS = [
  '<img src=x onerror="window.__xss=1">',
  '<script>window.__xss=2</script>',
  '"><svg onload="window.__xss=3">',
  '</div><iframe srcdoc="<script>parent.__xss=4</script>"></iframe>',
];
const LIVE_PAYLOAD = '<img src=y onerror="window.__xss=5">live';

describe('script payloads in container logs', () => {
  const binary = requireEnv('INFRAMON_BIN', 'run through ctest (make test), which sets it');
  const dockerHost = requireEnv('INFRAMON_TEST_DOCKER_HOST', 'run `make test`, which starts a private engine');
  const containerName = `imtest-xss-${Date.now().toString(36)}`;
  const problems = [];
  let server;
  let browser;
  let page;

  before(async () => {
    // The payloads go in through the environment so that no shell quoting touches them;
    // the second one is also wrapped in an ANSI colour, which the view renders as a span.
    const env = PAYLOADS.flatMap((payload, i) => ['--env', `P${i}=${payload}`]);
    await docker(dockerHost, 'run', '-d', '--init', '--name', containerName, '--label', 'inframon.test=true',
      ...env, TEST_IMAGE, 'sh', '-c',
      'printf "%s\\n" "$P0"; printf "\\033[31m%s\\033[0m\\n" "$P1"; printf "%s\\n" "$P2" "$P3"; ' +
      'while true; do sleep 1; done');
    server = new Server(binary, dockerHost);
    await server.start();
    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await checkedPage(context, problems);
  });

  after(async () => {
    await browser?.close();
    if (server) {
      if (problems.length || process.exitCode) {
        console.log(`--- server log ---\n${server.log()}`);
      }
      await server.stop();
    }
    await docker(dockerHost, 'rm', '-f', containerName).catch((err) => console.log(err.message));
  });

  test('the log view shows the payloads as text', async () => {
    await page.goto(server.url);
    await page.getByLabel('Username').fill(ADMIN_USERNAME);
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout: WAIT });
    await page.goto(`${server.url}/containers/${containerName}`);
    await page.getByRole('heading', { name: containerName }).waitFor({ timeout: WAIT });
    await page.getByRole('tab', { name: 'Logs' }).click();
    await page.getByRole('status').filter({ hasText: 'Following' }).waitFor({ timeout: WAIT });

    const view = page.locator('.log-view');
    for (const payload of PAYLOADS) {
      const line = view.locator('.log-line', { hasText: payload });
      await line.waitFor({ timeout: WAIT });
      assert.equal(await line.count(), 1, `one line shows ${payload}`);
      assert.ok((await line.textContent()).endsWith(payload), `the line's text ends with ${payload}`);
    }
    assert.equal(await view.locator('.log-line .ansi-red').textContent(), PAYLOADS[1],
      'the coloured payload is text inside the colour span');

    // PID 1 is tini (--init): what goes to its stdout is the container's log.
    await docker(dockerHost, 'exec', '-e', `LIVE=${LIVE_PAYLOAD}`, containerName, 'sh', '-c',
      'printf "%s\\n" "$LIVE" > /proc/1/fd/1');
    await view.locator('.log-line', { hasText: LIVE_PAYLOAD }).waitFor({ timeout: WAIT });

    // A search highlights matches with <mark>; the payload must stay text there too.
    await page.getByLabel('Search logs').fill('onerror');
    await view.locator('.log-line mark', { hasText: 'onerror' }).first().waitFor({ timeout: WAIT });

    for (const tag of ['img', 'script', 'svg', 'iframe']) {
      assert.equal(await view.locator(tag).count(), 0, `no <${tag}> element in the log view`);
    }
    assert.equal(await page.evaluate(() => window.__xss), undefined, 'no payload ran');
    assert.deepEqual(problems, [], 'no console error, exception or CSP violation');
  });
});
