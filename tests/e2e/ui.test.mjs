// The web UI in headless Chromium against the real server, engine and database: sign in,
// read the dashboard, find a real container, stop and start it, change the theme, sign
// out, and check that a viewer sees no action buttons. Screenshots of each page go to
// docs/screenshots/. Any console error, uncaught exception or CSP violation fails the run.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import {
  ADMIN_PASSWORD,
  ADMIN_USERNAME,
  checkedPage,
  docker,
  launchBrowser,
  requireEnv,
  Server,
  startRegistry,
  TEST_IMAGE,
  totpCode,
} from './harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const SHOTS = join(here, '..', '..', 'docs', 'screenshots');
const VIEWER = { username: 'e2e-viewer', password: 'E2e-Viewer-Pass-1' };
const WAIT = 20000;
// The header of GET /stats/export?format=csv: each gauge's mean, min and max, then the
// counters.
const HISTORY_CSV_HEADER = [
  'timestamp',
  ...['cpu_usage', 'memory_usage', 'network_rx_rate', 'network_tx_rate', 'block_read_rate', 'block_write_rate', 'pids'].flatMap((g) => [g, `${g}_min`, `${g}_max`]),
  'memory_limit', 'network_rx', 'network_tx', 'block_read', 'block_write', 'samples',
].join(',');

describe('web UI', () => {
  const binary = requireEnv('INFRAMON_BIN', 'run through ctest (make test), which sets it');
  const dockerHost = requireEnv('INFRAMON_TEST_DOCKER_HOST', 'run `make test`, which starts a private engine');
  const suffix = Date.now().toString(36);
  const containerName = `imtest-e2e-${suffix}`;
  // Two containers with compose labels make a compose project without the compose tool.
  const project = `imtest-proj-${suffix}`;
  const projectContainers = ['web', 'worker'].map((service) => ({ service, name: `imtest-pc-${suffix}-${service}` }));
  const composeFile = join(mkdtempSync(join(tmpdir(), 'im-e2e-compose-')), 'compose.yaml');
  const problems = [];
  let server;
  let browser;
  let context;
  let page;

  before(async () => {
    mkdirSync(SHOTS, { recursive: true });
    // tini as PID 1 (--init) makes a stop end the container at once.
    await docker(dockerHost, 'run', '-d', '--init', '--name', containerName, '--label', 'inframon.test=true',
      TEST_IMAGE, 'sh', '-c', 'while true; do echo "tick $(date)"; sleep 1; done');
    // The compose file that the labels name, which the server reads for the Compose tab.
    writeFileSync(composeFile, `services:\n${projectContainers.map((c) => `  ${c.service}:\n    image: ${TEST_IMAGE}\n`).join('')}`);
    for (const { service, name } of projectContainers) {
      await docker(dockerHost, 'run', '-d', '--init', '--name', name, '--label', 'inframon.test=true',
        '--label', `com.docker.compose.project=${project}`, '--label', `com.docker.compose.service=${service}`,
        '--label', `com.docker.compose.project.working_dir=${dirname(composeFile)}`,
        '--label', `com.docker.compose.project.config_files=${composeFile}`,
        TEST_IMAGE, 'sh', '-c', `while true; do echo "${service} tick $(date)"; sleep 1; done`);
    }
    server = new Server(binary, dockerHost);
    await server.start();
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
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
    for (const name of [containerName, ...projectContainers.map((c) => c.name)]) {
      await docker(dockerHost, 'rm', '-f', name).catch((err) => console.log(err.message));
    }
    rmSync(dirname(composeFile), { recursive: true, force: true });
  });

  // Takes a screenshot of the page without the notifications that earlier steps left.
  async function screenshot(name) {
    await page.locator('.toasts button').evaluateAll((buttons) => buttons.forEach((b) => b.click()));
    await page.screenshot({ path: join(SHOTS, name), fullPage: true });
  }

  // Opens an in-app page the way a link does, without a reload.
  async function openPath(path) {
    await page.evaluate((target) => {
      history.pushState(null, '', target);
      dispatchEvent(new PopStateEvent('popstate'));
    }, path);
  }

  test('the server sends the UI with its caching rules', async () => {
    const index = await fetch(`${server.url}/`, { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(index.status, 200);
    assert.match(index.headers.get('content-type'), /^text\/html/);
    assert.equal(index.headers.get('cache-control'), 'no-cache');
    const etag = index.headers.get('etag');
    assert.match(etag, /^"[0-9a-f]{16}"$/);
    const html = await index.text();
    assert.match(html, /<script type="module" crossorigin src="\/assets\/index-[^"]+\.js"><\/script>/,
      'index.html is the built UI, not the "UI was not built" page: run make with npm installed');

    const again = await fetch(`${server.url}/containers/anything`, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304, 'a page URL falls back to index.html and honours If-None-Match');

    const script = html.match(/src="(\/assets\/[^"]+\.js)"/)[1];
    const asset = await fetch(`${server.url}${script}`);
    assert.equal(asset.status, 200);
    assert.equal(asset.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.match(asset.headers.get('content-type'), /^text\/javascript/);

    const missingApi = await fetch(`${server.url}/api/v1/no-such-endpoint`);
    assert.equal(missingApi.status, 404);
    assert.equal((await missingApi.json()).detail, 'Not found');
    const missingAsset = await fetch(`${server.url}/assets/missing-00000000.js`);
    assert.equal(missingAsset.status, 404);
    const json = await fetch(`${server.url}/`, { headers: { Accept: 'application/json' } });
    assert.equal((await json.json()).name, 'InfraMon');
  });

  test('a wrong password shows the server message', async () => {
    // A separate page: the browser logs the 401 of this deliberate failure as a console
    // error, and that page checks that it logged nothing else.
    const ownProblems = [];
    const loginContext = await browser.newContext();
    const loginPage = await checkedPage(loginContext, ownProblems);
    await loginPage.goto(server.url);
    await loginPage.getByLabel('Username').fill(ADMIN_USERNAME);
    await loginPage.getByLabel('Password').fill('not-the-password');
    await loginPage.getByRole('button', { name: 'Sign in' }).click();
    await loginPage.getByRole('alert').filter({ hasText: 'Incorrect username or password' }).waitFor({ timeout: WAIT });
    await loginContext.close();
    assert.equal(ownProblems.length, 1, ownProblems.join('\n'));
    assert.match(ownProblems[0], /status of 401/);
  });

  test('admin signs in and sees the dashboard', async () => {
    await page.goto(server.url);
    await page.screenshot({ path: join(SHOTS, 'login.png') });
    await page.getByLabel('Username').fill(ADMIN_USERNAME);
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout: WAIT });
    const cpu = page.locator('.figure', { hasText: 'CPU (all cores)' }).locator('.figure-value');
    await assert.doesNotReject(cpu.filter({ hasText: /^\d+\.\d %$/ }).waitFor({ timeout: WAIT }));
    const running = page.locator('.figure', { hasText: 'running' }).locator('.figure-value');
    await running.filter({ hasText: /^[1-9]\d*$/ }).waitFor({ timeout: WAIT });
    // Let a few live samples reach the charts before the picture.
    await page.waitForTimeout(4500);
    await page.screenshot({ path: join(SHOTS, 'dashboard.png'), fullPage: true });
  });

  test('a reload keeps the session through the refresh cookie', async () => {
    await page.reload();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout: WAIT });
    assert.equal(await page.getByRole('button', { name: 'Sign in' }).count(), 0);
  });

  test('the dashboard lists the top host processes', async () => {
    const card = page.getByRole('region', { name: 'Top processes' });
    const rows = card.getByRole('table', { name: 'Host processes' }).locator('tbody tr');
    await rows.first().waitFor({ timeout: WAIT });
    const first = await rows.first().locator('td').allTextContents();
    assert.match(first[0], /^\d+$/, 'the first column is a pid');
    assert.match(first[4], /^\d+\.\d %$/, 'the CPU column is a percentage');
    await card.getByLabel('By').selectOption('memory');
    await card.getByRole('columnheader', { name: /Resident memory ▼/ }).waitFor({ timeout: WAIT });
    const caption = await card.locator('p.muted.small').textContent();
    assert.match(caption, /^The top \d+ of \d+ processes by memory/);
  });

  test('the dashboard loads every history range', async () => {
    const cpuChart = page.locator('figure.chart', { hasText: 'CPU, % of all cores' });
    for (const range of ['1h', '6h', '24h', '7d', '30d', '15m']) {
      await page.getByLabel('Range').selectOption(range);
      await page.waitForFunction(
        () => Number(document.querySelector('figure.chart')?.getAttribute('data-points')) > 0,
        null,
        { timeout: WAIT },
      );
      assert.equal(await page.getByText('This server has no history endpoint.').count(), 0, `range ${range}`);
      assert.equal(await page.getByText(/^History: /).count(), 0, `range ${range} loads without an error`);
      if (range !== '15m') {
        // Aggregated ranges draw a band, so uPlot's legend lists the maximum and minimum.
        await cpuChart.getByText('CPU max').waitFor({ timeout: WAIT });
      }
    }
  });

  test('the container list shows the real container', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Containers' }).click();
    const row = page.locator(`tr[data-name="${containerName}"]`);
    await row.waitFor({ timeout: WAIT });
    await row.locator('.badge', { hasText: 'running' }).waitFor({ timeout: WAIT });

    // The CPU column shows the list's figure, or a dash while the list carries none.
    const token = await server.login(ADMIN_USERNAME, ADMIN_PASSWORD);
    const list = await server.api('GET', '/containers?all_containers=true', token);
    const item = list.data.containers.find((c) => c.name === containerName);
    assert.ok(item, `${containerName} is in the API's list`);
    const cpuCell = row.locator('td.cpu');
    if (typeof item.cpu_usage === 'number') {
      await cpuCell.filter({ hasText: /^\d+\.\d %$/ }).waitFor({ timeout: WAIT });
    } else {
      assert.equal(await cpuCell.textContent(), '—');
    }

    // "/" focuses the search box, and the search narrows the table.
    await page.locator('body').press('/');
    const search = page.getByLabel('Search containers');
    assert.ok(await search.evaluate((el) => el === document.activeElement), '"/" focuses the search box');
    await search.fill(containerName);
    assert.equal(await page.locator('tbody tr').count(), 1);
    await page.screenshot({ path: join(SHOTS, 'containers.png'), fullPage: true });
    await search.fill('');
  });

  test('stop and start change the state', async () => {
    const row = page.locator(`tr[data-name="${containerName}"]`);
    await row.getByRole('button', { name: `Stop ${containerName}`, exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.waitFor({ timeout: WAIT });
    assert.match(await dialog.textContent(), new RegExp(`Stop container "${containerName}"`));
    await page.screenshot({ path: join(SHOTS, 'confirm-stop.png') });
    await dialog.getByRole('button', { name: 'Stop' }).click();
    await row.locator('.badge', { hasText: 'exited' }).waitFor({ timeout: WAIT });
    assert.equal((await docker(dockerHost, 'inspect', '-f', '{{.State.Status}}', containerName)), 'exited');

    await row.getByRole('button', { name: `Start ${containerName}`, exact: true }).click();
    await row.locator('.badge', { hasText: 'running' }).waitFor({ timeout: WAIT });
    assert.equal((await docker(dockerHost, 'inspect', '-f', '{{.State.Status}}', containerName)), 'running');
  });

  test('the detail page shows the overview and the inspect JSON', async () => {
    await page.locator(`tr[data-name="${containerName}"]`).getByRole('link', { name: containerName }).click();
    await page.getByRole('heading', { name: containerName }).waitFor({ timeout: WAIT });
    await page.getByText(TEST_IMAGE).first().waitFor({ timeout: WAIT });
    await page.screenshot({ path: join(SHOTS, 'container-detail.png'), fullPage: true });
    await page.getByRole('tab', { name: 'Inspect' }).click();
    await page.locator('pre.json', { hasText: '"Id"' }).waitFor({ timeout: WAIT });
  });

  test('the stats tab shows live container figures', async () => {
    await page.getByRole('tab', { name: 'Stats' }).click();
    const cpu = page.locator('.figure', { hasText: 'CPU (% of one core)' }).locator('.figure-value');
    await cpu.filter({ hasText: /^\d+\.\d\d %$/ }).waitFor({ timeout: WAIT });
    await page.waitForTimeout(2500);
    await page.screenshot({ path: join(SHOTS, 'container-stats.png'), fullPage: true });
  });

  test('the stats tab loads longer ranges with min and max bands', async () => {
    await page.getByLabel('Range').selectOption('6h');
    await page.getByRole('status').filter({ hasText: /^(1 point|\d+ points), one per / }).waitFor({ timeout: WAIT });
    const cpuChart = page.locator('figure.chart', { hasText: 'CPU, % of one core' });
    assert.ok(Number(await cpuChart.getAttribute('data-points')) > 0, 'the 6 h chart has points');
    await cpuChart.getByText('CPU max').waitFor({ timeout: WAIT });
    await screenshot('container-stats-range.png');
  });

  test('the stats tab downloads the history as CSV', async () => {
    const [file] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download CSV' }).click(),
    ]);
    assert.equal(file.suggestedFilename(), `inframon-${containerName}-6h.csv`);
    const [header, ...rows] = (await readFile(await file.path(), 'utf8')).trim().split('\r\n');
    assert.equal(header, HISTORY_CSV_HEADER);
    assert.ok(rows.length > 0, 'the CSV has at least one bucket');
    assert.match(rows[0], /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ,/);
    assert.equal(rows[0].split(',').length, header.split(',').length);
    await page.getByLabel('Range').selectOption('15m');
  });

  test('the processes tab lists the sleep process', async () => {
    await page.getByRole('tab', { name: 'Processes' }).click();
    const table = page.getByRole('table', { name: 'Container processes' });
    // The container's loop runs sleep 1 most of the time; the tab refreshes every 3 s.
    await table.locator('tbody tr', { hasText: 'sleep 1' }).first().waitFor({ timeout: WAIT });
    const titles = await table.locator('thead th').allTextContents();
    const pidColumn = titles.findIndex((t) => t.startsWith('PID'));
    assert.ok(pidColumn >= 0, `a PID column in ${titles.join(', ')}`);
    await table.getByRole('button', { name: /^PID/ }).click();
    await table.getByRole('columnheader', { name: /^PID ▼$/ }).waitFor({ timeout: WAIT });
    const pids = (await table.locator(`tbody tr td:nth-child(${pidColumn + 1})`).allTextContents()).map(Number);
    assert.ok(pids.length >= 2, `init, sh and sleep are listed: ${pids}`);
    assert.deepEqual(pids, [...pids].sort((a, b) => b - a), 'a click on PID sorts the rows by descending pid');
    await screenshot('container-processes.png');
  });

  test('the overview shows the root filesystem usage', async () => {
    await page.getByRole('tab', { name: 'Overview' }).click();
    const root = page.getByRole('list', { name: 'Filesystem usage' }).locator('li[data-mount="/"]');
    await root.waitFor({ timeout: WAIT });
    assert.match(await root.textContent(), /used \(\d+\.\d %\), .* free/);
  });

  test('the logs tab follows a line printed after it opened', async () => {
    await page.getByRole('tab', { name: 'Logs' }).click();
    await page.getByRole('status').filter({ hasText: 'Following' }).waitFor({ timeout: WAIT });
    const marker = `e2e-marker-${Math.random().toString(36).slice(2, 10)}`;
    // PID 1 is tini (--init): what goes to its stdout is the container's log.
    await docker(dockerHost, 'exec', containerName, 'sh', '-c', `printf '\\033[31m%s\\033[0m\\n' ${marker} > /proc/1/fd/1`);
    const line = page.locator('.log-line', { hasText: marker });
    await line.waitFor({ timeout: WAIT });
    assert.equal(await line.locator('.ansi-red').textContent(), marker, 'the ANSI red marker is coloured');
    await page.getByLabel('Search logs').fill(marker);
    await page.locator('.log-line mark', { hasText: marker }).waitFor({ timeout: WAIT });
    assert.equal(await page.locator('.log-line').count(), 1, 'only the matching line is shown');
    await page.getByLabel('Search logs').fill('');
    await page.screenshot({ path: join(SHOTS, 'logs.png'), fullPage: true });
  });

  test('the terminal runs a command in the container', async () => {
    await page.getByRole('tab', { name: 'Terminal' }).click();
    await page.getByRole('status').filter({ hasText: 'Connected' }).waitFor({ timeout: WAIT });
    await page.locator('.terminal .xterm').click();
    await page.keyboard.type('echo $((6*7))-done');
    await page.keyboard.press('Enter');
    await page.locator('.terminal .xterm-rows', { hasText: '42-done' }).waitFor({ timeout: WAIT });
    await page.screenshot({ path: join(SHOTS, 'terminal.png'), fullPage: true });
  });

  // Runs a bulk action on the test container from the list and checks the results dialog.
  async function bulkAction(action) {
    const row = page.locator(`tr[data-name="${containerName}"]`);
    await row.getByLabel(`Select ${containerName}`).check();
    const bulk = page.getByRole('region', { name: 'Bulk actions' });
    await bulk.getByRole('button', { name: action, exact: true }).click();
    const dialog = page.getByRole('dialog');
    await dialog.getByText(`${containerName}: done`).waitFor({ timeout: WAIT });
    assert.match(await dialog.getByRole('heading').textContent(), /1 of 1 container/);
    await dialog.getByRole('button', { name: 'Close' }).click();
  }

  test('bulk pause and resume report each container', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Containers' }).click();
    await bulkAction('Pause');
    assert.equal(await docker(dockerHost, 'inspect', '-f', '{{.State.Status}}', containerName), 'paused');
    await bulkAction('Resume');
    assert.equal(await docker(dockerHost, 'inspect', '-f', '{{.State.Status}}', containerName), 'running');
  });

  test('the history view compares two containers and exports CSV', async () => {
    await page.getByRole('button', { name: 'History and compare' }).click();
    const dialog = page.getByRole('dialog', { name: 'Container history' });
    await dialog.waitFor({ timeout: WAIT });
    const second = projectContainers[0].name;
    await dialog.getByLabel(containerName, { exact: true }).check();
    await dialog.getByLabel(second, { exact: true }).check();
    const summary = dialog.locator('table.compare-summary');
    await summary.locator(`tr[data-name="${containerName}"]`).waitFor({ timeout: WAIT });
    await summary.locator(`tr[data-name="${second}"]`).waitFor({ timeout: WAIT });
    const mean = await summary.locator(`tr[data-name="${containerName}"] td`).nth(2).textContent();
    assert.match(mean, /^\d+\.\d %$/, 'the mean CPU is a percentage');
    assert.ok(Number(await dialog.locator('figure.chart').getAttribute('data-points')) > 0, 'the chart has points');
    await screenshot('compare.png');

    const [file] = await Promise.all([
      page.waitForEvent('download'),
      dialog.getByRole('button', { name: `Download history CSV of ${containerName}` }).click(),
    ]);
    assert.equal(file.suggestedFilename(), `inframon-${containerName}-1h.csv`);
    const [header, ...rows] = (await readFile(await file.path(), 'utf8')).trim().split('\r\n');
    assert.equal(header, HISTORY_CSV_HEADER);
    assert.ok(rows.length > 0, 'the CSV has at least one bucket');
    await dialog.getByRole('button', { name: 'Close' }).click();
    await dialog.waitFor({ state: 'detached', timeout: WAIT });
  });

  test('CSV export contains the shown containers', async () => {
    const [file] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Export CSV' }).click(),
    ]);
    assert.match(file.suggestedFilename(), /^containers-.*Z\.csv$/);
    const text = await readFile(await file.path(), 'utf8');
    const [header, ...rows] = text.trim().split('\r\n');
    assert.equal(header.split(',')[1], 'name');
    assert.ok(rows.some((line) => line.split(',')[1] === containerName), text);
  });

  test('admin creates a viewer on the users page', async () => {
    await page.getByRole('link', { name: 'Users' }).click();
    await page.getByRole('heading', { name: 'Users' }).waitFor({ timeout: WAIT });
    const form = page.locator('form', { hasText: 'New user' });
    await form.getByLabel('Username').fill(VIEWER.username);
    await form.getByLabel('Email').fill('viewer@example.test');
    await form.getByLabel('Password (8 characters to 72 bytes)').fill(VIEWER.password);
    await form.getByLabel('Repeat the password').fill(VIEWER.password);
    await form.getByLabel('Role').selectOption('viewer');
    await form.getByRole('button', { name: 'Create user' }).click();
    await page.locator(`tr[data-user="${VIEWER.username}"]`).waitFor({ timeout: WAIT });
    await page.screenshot({ path: join(SHOTS, 'users.png'), fullPage: true });
  });

  test('an API token is created, used and revoked on the account page', async () => {
    await page.locator('a.who').click();
    await page.getByRole('heading', { name: 'Your account' }).waitFor({ timeout: WAIT });
    const form = page.locator('form', { hasText: 'New token' });
    await form.getByLabel('Name').fill('e2e-token');
    await form.getByLabel('Expires after').selectOption('30');
    await form.getByRole('button', { name: 'Create token' }).click();
    const shown = page.getByLabel('New API token');
    await shown.waitFor({ timeout: WAIT });
    const token = (await shown.textContent()).trim();
    const row = page.locator('tr[data-token="e2e-token"]');
    await row.locator('.badge', { hasText: 'active' }).waitFor({ timeout: WAIT });
    assert.ok(token.startsWith((await row.locator('td.mono').textContent()).replace('…', '')), 'the list shows the token prefix');
    const me = await server.api('GET', '/auth/me', token);
    assert.equal(me.username, ADMIN_USERNAME, 'the new token authenticates as its owner');
    await screenshot('account.png');

    // Esc closes the confirmation without revoking.
    await row.getByRole('button', { name: 'Revoke e2e-token' }).click();
    const dialog = page.getByRole('dialog');
    assert.match(await dialog.textContent(), /Revoke API token "e2e-token"/);
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached', timeout: WAIT });
    assert.equal((await server.api('GET', '/auth/me', token)).username, ADMIN_USERNAME, 'Esc kept the token');

    await row.getByRole('button', { name: 'Revoke e2e-token' }).click();
    await dialog.getByRole('button', { name: 'Revoke' }).click();
    await page.getByRole('status').filter({ hasText: 'Token "e2e-token" revoked' }).waitFor({ timeout: WAIT });
    await assert.rejects(server.api('GET', '/auth/me', token), /returned 401/, 'a revoked token is rejected');
    await page.locator('tr[data-token="e2e-token"] .badge', { hasText: 'revoked' })
      .or(page.getByText('You have no API tokens.')).waitFor({ timeout: WAIT });
  });

  test('TOTP is turned on and off on the account page', async () => {
    await page.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
    const key = (await page.getByLabel('TOTP key', { exact: true }).textContent()).trim();
    const link = (await page.getByLabel('Setup link', { exact: true }).textContent()).trim();
    assert.match(link, new RegExp(`^otpauth://totp/InfraMon:${ADMIN_USERNAME}\\?secret=${key}&`));
    const qr = page.getByRole('img', { name: /^QR code of the setup link/ });
    assert.ok((await qr.locator('path').getAttribute('d')).length > 100, 'the QR code has modules');
    await screenshot('totp-setup.png');
    await page.getByLabel('Code from the app').fill(totpCode(key));
    await page.getByRole('button', { name: 'Turn on' }).click();
    const codes = page.locator('.codes li');
    await codes.first().waitFor({ timeout: WAIT });
    assert.equal(await codes.count(), 10, 'ten recovery codes are shown once');
    const token = await server.login(ADMIN_USERNAME, ADMIN_PASSWORD).catch(() => null);
    assert.equal(token, undefined, 'a password alone no longer yields an access token');

    await page.getByLabel('Your password, to turn it off').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Turn off two-factor sign-in' }).click();
    await page.getByRole('button', { name: 'Set up two-factor sign-in' }).waitFor({ timeout: WAIT });
    assert.ok(await server.login(ADMIN_USERNAME, ADMIN_PASSWORD), 'the password alone signs in again');
  });

  test('the audit log filters by action and downloads CSV', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Audit log' }).click();
    await page.getByRole('heading', { name: 'Audit log' }).waitFor({ timeout: WAIT });
    await page.locator('tbody tr').first().waitFor({ timeout: WAIT });
    await screenshot('audit-log.png');

    const filters = page.getByRole('form', { name: 'Audit log filters' });
    await filters.getByLabel('Action (exact)').fill('auth.api_token_revoke');
    await filters.getByRole('button', { name: 'Apply filters' }).click();
    await page.getByRole('status').filter({ hasText: /^1 matching entry$/ }).waitFor({ timeout: WAIT });
    const actions = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.action));
    assert.deepEqual(actions, ['auth.api_token_revoke']);

    const [file] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('button', { name: 'Download CSV' }).click(),
    ]);
    assert.match(file.suggestedFilename(), /^audit-log-.*Z-times-in-UTC\.csv$/);
    const [header, ...rows] = (await readFile(await file.path(), 'utf8')).trim().split('\r\n');
    assert.match(header, /^id,timestamp,user_id,username,action,/);
    assert.equal(rows.length, 1, 'the CSV has the filtered rows only');
    assert.match(rows[0], /"auth\.api_token_revoke"/);
    await filters.getByRole('button', { name: 'Clear' }).click();
  });

  test('the events feed shows a container start', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Events' }).click();
    await page.getByRole('heading', { name: 'Engine events' }).waitFor({ timeout: WAIT });
    await page.getByLabel('Start with the events of').selectOption({ label: 'from now on' });
    // The list empties when the new stream (without the backlog) is connected.
    await page.getByText('No container event yet').waitFor({ timeout: WAIT });
    await page.getByRole('status').filter({ hasText: 'live' }).waitFor({ timeout: WAIT });
    const token = await server.login(ADMIN_USERNAME, ADMIN_PASSWORD);
    await server.api('POST', `/containers/${containerName}/restart`, token);
    await page.locator(`tr[data-action="start"][data-name="${containerName}"]`).waitFor({ timeout: WAIT });
    await page.locator(`tr[data-action="die"][data-name="${containerName}"]`).waitFor({ timeout: WAIT });
    await screenshot('events.png');

    // With only "start" ticked, the reconnected stream leaves out the stop and die events.
    await page.getByRole('checkbox', { name: 'start', exact: true }).check();
    await page.getByText('No container event yet').waitFor({ timeout: WAIT });
    await page.getByRole('status').filter({ hasText: 'live' }).waitFor({ timeout: WAIT });
    await server.api('POST', `/containers/${containerName}/restart`, token);
    await page.locator(`tr[data-action="start"][data-name="${containerName}"]`).waitFor({ timeout: WAIT });
    const shown = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.action));
    assert.deepEqual([...new Set(shown)], ['start'], `only start events are listed: ${shown.join(', ')}`);
    await page.getByRole('checkbox', { name: 'start', exact: true }).uncheck();
  });

  test('the compose page stops and starts a project', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Compose' }).click();
    const card = page.locator(`article[data-project="${project}"]`);
    await card.getByText('2 of 2 containers running').waitFor({ timeout: WAIT });
    for (const { service, name } of projectContainers) {
      await card.locator(`tr[data-service="${service}"]`).getByRole('link', { name }).waitFor({ timeout: WAIT });
    }
    const group = card.getByRole('group', { name: `Actions for ${project}` });

    await group.getByRole('button', { name: 'Stop', exact: true }).click();
    const confirm = page.getByRole('dialog');
    assert.match(await confirm.textContent(), new RegExp(`Stop every container of project "${project}"`));
    await confirm.getByRole('button', { name: 'Stop' }).click();
    const result = page.getByRole('dialog', { name: new RegExp(`^${project}: compose stop done`) });
    await result.waitFor({ timeout: WAIT });
    assert.equal(await result.locator('li.ok').count(), 2, await result.textContent());
    await result.getByRole('button', { name: 'Close' }).click();
    await card.locator('.badge', { hasText: 'stopped' }).waitFor({ timeout: WAIT });
    assert.equal(await docker(dockerHost, 'inspect', '-f', '{{.State.Status}}', projectContainers[0].name), 'exited');

    await group.getByRole('button', { name: 'Start', exact: true }).click();
    await page.getByRole('dialog').getByRole('button', { name: 'Start' }).click();
    await page.getByRole('dialog', { name: new RegExp(`^${project}: compose start done`) })
      .getByRole('button', { name: 'Close' }).click();
    await card.getByText('2 of 2 containers running').waitFor({ timeout: WAIT });
    await screenshot('compose.png');
  });

  test('the compose page pulls a project image from a loopback registry', async () => {
    const registry = await startRegistry();
    const pullProject = `imtest-pull-${suffix}`;
    const image = `${registry.address}/imtest/e2e-pull-${suffix}:1`;
    const name = `imtest-pull-${suffix}-app`;
    try {
      await docker(dockerHost, 'tag', TEST_IMAGE, image);
      await docker(dockerHost, 'push', image);
      await docker(dockerHost, 'create', '--name', name, '--label', 'inframon.test=true',
        '--label', `com.docker.compose.project=${pullProject}`, '--label', 'com.docker.compose.service=app',
        image, 'true');
      const card = page.locator(`article[data-project="${pullProject}"]`);
      await card.getByText('0 of 1 containers running').waitFor({ timeout: WAIT });
      await card.getByRole('button', { name: 'Pull images' }).click();
      const confirm = page.getByRole('dialog');
      assert.match(await confirm.textContent(), new RegExp(`Pull the image of every service of project "${pullProject}"`));
      await confirm.getByRole('button', { name: 'Pull images' }).click();
      const result = page.getByRole('dialog', { name: `${pullProject}: pull done (1 of 1 images pulled)` });
      await result.waitFor({ timeout: WAIT });
      // The message is the engine's last status line, such as "Status: Image is up to date".
      assert.ok((await result.locator('li.ok').textContent()).startsWith(`${image}: `));
      assert.equal(await result.locator('li.fail').count(), 0);
      await result.getByRole('button', { name: 'Close' }).click();
    } finally {
      await docker(dockerHost, 'rm', '-f', name).catch((err) => console.log(err.message));
      await docker(dockerHost, 'rmi', '-f', image).catch((err) => console.log(err.message));
      await registry.stop();
    }
  });

  test('the compose tab of a container names its project', async () => {
    const card = page.locator(`article[data-project="${project}"]`);
    await card.getByRole('link', { name: projectContainers[0].name }).click();
    await page.getByRole('heading', { name: projectContainers[0].name }).waitFor({ timeout: WAIT });
    await page.getByRole('tab', { name: 'Compose' }).click();
    const facts = page.locator('dl.kv');
    await facts.getByRole('link', { name: project }).waitFor({ timeout: WAIT });
    assert.equal(await facts.locator('div', { hasText: 'Services of the project' }).locator('dd').textContent(), 'web, worker');
    assert.equal(await facts.locator('div', { hasText: 'Compose file' }).locator('dd').textContent(), composeFile);
    await page.getByLabel('Compose file', { exact: true }).filter({ hasText: `image: ${TEST_IMAGE}` }).waitFor({ timeout: WAIT });
    await facts.getByRole('link', { name: project }).click();
    await card.waitFor({ timeout: WAIT });
  });

  test('merged logs tag each line with its container', async () => {
    const card = page.locator(`article[data-project="${project}"]`);
    await card.getByRole('link', { name: 'Merged logs of this project' }).click();
    await page.getByRole('heading', { name: 'Merged logs' }).waitFor({ timeout: WAIT });
    await page.getByRole('status').filter({ hasText: 'Following' }).waitFor({ timeout: WAIT });
    const [web, worker] = projectContainers.map((c) => c.name);
    const marker = `e2e-merged-${Math.random().toString(36).slice(2, 10)}`;
    await docker(dockerHost, 'exec', worker, 'sh', '-c', `echo ${marker} > /proc/1/fd/1`);
    const line = page.locator(`.merged-line[data-container="${worker}"]`, { hasText: marker });
    await line.waitFor({ timeout: WAIT });
    await page.locator(`.merged-line[data-container="${web}"]`).first().waitFor({ timeout: WAIT });
    const webTag = await page.locator(`.merged-line[data-container="${web}"] .tag`).first().getAttribute('class');
    const workerTag = await line.locator('.tag').getAttribute('class');
    assert.notEqual(webTag, workerTag, 'the two containers have different colours');
    const times = await page.locator('.merged-line[data-time]').evaluateAll((lines) => lines.map((l) => Date.parse(l.dataset.time)));
    const outOfOrder = times.findIndex((t, i) => i > 0 && t < times[i - 1]);
    assert.equal(outOfOrder, -1, `line ${outOfOrder} is older than the line before it`);
    assert.ok(times.length > 10, `the backlog of both containers is shown (${times.length} lines)`);
    await screenshot('merged-logs.png');
  });

  test('a group is created, filled and filters the container list', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Groups' }).click();
    await page.getByRole('heading', { name: 'Groups', exact: true }).waitFor({ timeout: WAIT });
    const form = page.locator('form', { hasText: 'New group' });
    await form.getByLabel('Name').fill('e2e-group');
    await form.getByLabel('Description').fill('the compose test project');
    await form.getByLabel('Colour').fill('#0e7490');
    await form.getByRole('button', { name: 'Create group' }).click();
    const card = page.locator('article[data-group="e2e-group"]');
    await card.getByText('No containers yet.').waitFor({ timeout: WAIT });

    await card.getByRole('button', { name: 'Set containers' }).click();
    const dialog = page.getByRole('dialog', { name: 'Containers in e2e-group' });
    for (const { name } of projectContainers) {
      await dialog.getByLabel(name).check();
    }
    await dialog.getByRole('button', { name: 'Save 2 members' }).click();
    for (const { name } of projectContainers) {
      await card.locator(`li[data-member="${name}"] .badge`, { hasText: 'running' }).waitFor({ timeout: WAIT });
    }
    const token = await server.login(ADMIN_USERNAME, ADMIN_PASSWORD);
    const saved = (await server.api('GET', '/groups', token)).find((g) => g.name === 'e2e-group');
    assert.deepEqual([...saved.container_ids].sort(), projectContainers.map((c) => c.name).sort());
    assert.equal(saved.color.toLowerCase(), '#0e7490');
    await screenshot('groups.png');

    await card.getByRole('link', { name: 'Show in the container list' }).click();
    await page.getByRole('heading', { name: 'Containers' }).waitFor({ timeout: WAIT });
    await page.getByRole('button', { name: /^e2e-group/, pressed: true }).waitFor({ timeout: WAIT });
    await page.locator(`tr[data-name="${projectContainers[0].name}"]`).waitFor({ timeout: WAIT });
    const names = await page.locator('tbody tr').evaluateAll((rows) => rows.map((r) => r.dataset.name).sort());
    assert.deepEqual(names, projectContainers.map((c) => c.name).sort(), 'only the group members are listed');
    await page.locator(`tr[data-name="${projectContainers[0].name}"] .group-tag`, { hasText: 'e2e-group' }).waitFor({ timeout: WAIT });
    await page.getByRole('button', { name: 'Every container' }).click();
    await page.locator(`tr[data-name="${containerName}"]`).waitFor({ timeout: WAIT });
  });

  test('the settings page shows the configuration without secrets', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Settings' }).click();
    const secret = page.locator('tr[data-setting="SECRET_KEY"]');
    await secret.waitFor({ timeout: WAIT });
    assert.equal((await secret.locator('td').textContent()).trim(), '(set, redacted)');
    assert.equal((await page.locator('tr[data-setting="DOCKER_HOST"] td').textContent()).trim(), dockerHost);
    const text = await page.locator('main').textContent();
    assert.ok(!text.includes(server.secretKey), 'SECRET_KEY is not on the page');
    assert.ok(!text.includes(ADMIN_PASSWORD), 'ADMIN_PASSWORD is not on the page');
    await screenshot('settings.png');
  });

  test('the theme toggle switches to dark', async () => {
    await page.getByRole('link', { name: 'Dashboard' }).click();
    const toggle = page.getByRole('button', { name: /^Theme:/ });
    // The browser context prefers light, so "system" starts light; the toggle goes
    // system, light, dark.
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'light');
    const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    await toggle.click();
    await page.getByRole('button', { name: 'Theme: light' }).waitFor({ timeout: WAIT });
    await toggle.click();
    await page.getByRole('button', { name: 'Theme: dark' }).waitFor({ timeout: WAIT });
    // The page applies the theme in an effect after the button's label changes.
    await page.waitForFunction(() => document.documentElement.dataset.theme === 'dark', null,
                               { timeout: WAIT });
    assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
    const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
    assert.notEqual(dark, light);
    await page.waitForTimeout(2500);
    await page.screenshot({ path: join(SHOTS, 'dashboard-dark.png'), fullPage: true });
  });

  test('the containers page fits a 375 px phone', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Containers' }).click();
    await page.locator(`tr[data-name="${containerName}"]`).waitFor({ timeout: WAIT });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    assert.ok(width <= 375, `the page is ${width} px wide at a 375 px viewport`);
    await page.screenshot({ path: join(SHOTS, 'containers-phone.png'), fullPage: true });
    await page.setViewportSize({ width: 1280, height: 800 });
  });

  test('the new pages fit a 375 px phone', async () => {
    await page.setViewportSize({ width: 375, height: 800 });
    const pages = [
      ['/', 'Dashboard'],
      ['/account', 'Your account'],
      ['/admin/audit', 'Audit log'],
      ['/events', 'Engine events'],
      ['/compose', 'Compose projects'],
      ['/groups', 'Groups'],
      ['/logs', 'Merged logs'],
      ['/admin/settings', 'Settings'],
    ];
    try {
      for (const [path, heading] of pages) {
        await openPath(path);
        await page.getByRole('heading', { name: heading, exact: true }).waitFor({ timeout: WAIT });
        // Let lists and tables arrive before measuring.
        await page.waitForTimeout(500);
        const { width, widest } = await page.evaluate(() => {
          let found = '';
          let right = 0;
          for (const element of document.querySelectorAll('main *')) {
            const box = element.getBoundingClientRect();
            if (box.right > right && !element.closest('.table-wrap')) {
              right = box.right;
              found = `<${element.tagName.toLowerCase()} class="${element.className}">`;
            }
          }
          return { width: document.documentElement.scrollWidth, widest: found };
        });
        assert.ok(width <= 375, `${path} is ${width} px wide at a 375 px viewport; widest: ${widest}`);
        if (path === '/compose') {
          // The theme test before this one left the dark theme on.
          await screenshot('compose-phone-dark.png');
        }
      }
    } finally {
      await page.setViewportSize({ width: 1280, height: 800 });
    }
  });

  test('sign out returns to the login page', async () => {
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: WAIT });
  });

  test('a viewer sees no action buttons', async () => {
    await page.getByLabel('Username').fill(VIEWER.username);
    await page.getByLabel('Password').fill(VIEWER.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout: WAIT });
    const nav = page.getByRole('navigation', { name: 'Main' });
    for (const adminPage of ['Users', 'Audit log', 'Settings']) {
      assert.equal(await nav.getByRole('link', { name: adminPage }).count(), 0, `no ${adminPage} page for a viewer`);
    }
    await openPath('/admin/audit');
    await page.getByRole('heading', { name: 'Page not found' }).waitFor({ timeout: WAIT });
    await nav.getByRole('link', { name: 'Compose' }).click();
    await page.locator(`article[data-project="${project}"]`).waitFor({ timeout: WAIT });
    assert.equal(await page.getByRole('group', { name: /^Actions for / }).count(), 0, 'no compose actions');
    await nav.getByRole('link', { name: 'Groups' }).click();
    await page.locator('article[data-group="e2e-group"]').waitFor({ timeout: WAIT });
    assert.equal(await page.getByRole('group', { name: /^Actions for group / }).count(), 0, 'no group actions');
    assert.equal(await page.getByRole('button', { name: 'Create group' }).count(), 0, 'no group creation');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Containers' }).click();
    const row = page.locator(`tr[data-name="${containerName}"]`);
    await row.waitFor({ timeout: WAIT });
    assert.equal(await page.locator('tbody button').count(), 0, 'no row actions');
    assert.equal(await page.locator('input[type="checkbox"]').count(), 0, 'no selection for bulk actions');
    await row.getByRole('link', { name: containerName }).click();
    await page.getByRole('heading', { name: containerName }).waitFor({ timeout: WAIT });
    assert.equal(await page.getByRole('group', { name: 'Container actions' }).count(), 0);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: WAIT });
  });

  // Last, because the paused state lingers in the server's snapshot.
  test('the list shows a paused container as paused', {
    todo: 'the container list (served from the collector snapshot) still says running after a pause',
  }, async () => {
    await page.getByLabel('Username').fill(ADMIN_USERNAME);
    await page.getByLabel('Password').fill(ADMIN_PASSWORD);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Containers' }).click();
    try {
      await bulkAction('Pause');
      const row = page.locator(`tr[data-name="${containerName}"]`);
      await row.locator('.badge', { hasText: 'paused' }).waitFor({ timeout: 8000 });
    } finally {
      await docker(dockerHost, 'unpause', containerName).catch(() => {});
    }
  });

  test('no console errors and no CSP violations', () => {
    assert.deepEqual(problems, []);
  });
});
