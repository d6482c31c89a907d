// Script payloads that reach the web UI from a real container, engine or request must
// appear as text: no element is created from them, no handler runs, and no CSP violation
// is raised. The first suite covers the log view, with the lines loaded when the tab
// opens and a line that arrives on the live stream. The second covers labels, compose
// names, environment, command, group names, audit rows, merged logs, events, the terminal
// and addresses built from data.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  ADMIN_PASSWORD,
  ADMIN_USERNAME,
  checkedPage,
  closeBrowserAndServer,
  docker,
  launchBrowser,
  requireEnv,
  Server,
  signIn,
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
    await closeBrowserAndServer(browser, server, problems);
    await docker(dockerHost, 'rm', '-f', containerName).catch((err) => console.log(err.message));
  });

  test('the log view shows the payloads as text', async () => {
    await signIn(page, server.url, WAIT);
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

// Markup in a payload carries a data-xss attribute, so that an element the browser ever
// built from one is found by that attribute. The payloads have no double quote, so the
// inspect view's JSON shows them unchanged.
function payload(n) {
  return `'><img data-xss src=x onerror=window.__xss=${n}><svg data-xss onload=window.__xss=${n}>`;
}
const SCRIPT_PAYLOAD = '<script data-xss>window.__xss=99</script>';
// The login endpoint takes usernames of at most 50 bytes.
function shortPayload(n) {
  return `'><img data-xss src=x onerror=__xss=${n}>`;
}

describe('script payloads in labels, names and audit rows', () => {
  const binary = requireEnv('INFRAMON_BIN', 'run through ctest (make test), which sets it');
  const dockerHost = requireEnv('INFRAMON_TEST_DOCKER_HOST', 'run `make test`, which starts a private engine');
  const containerName = `imtest-xss-data-${Date.now().toString(36)}`;
  // The server reads the compose file that a label names under HOST_FS_ROOT, which is /
  // by default, so a real file sits in a folder named after a payload.
  const composeFolder = mkdtempSync(join(tmpdir(), 'im-e2e-xss-'));
  const text = {
    label: payload(11),
    project: payload(12),
    service: payload(13),
    configFile: join(composeFolder, payload(14), 'compose.yaml'),
    composeComment: payload(26),
    env: payload(15),
    command: payload(16),
    logLine: payload(17),
    groupName: payload(18),
    groupDescription: `${payload(19)} ${SCRIPT_PAYLOAD}`,
    username: shortPayload(20),
    userAgent: payload(21),
    terminalLine: payload(22),
  };
  const problems = [];
  let server;
  let browser;
  let page;
  let containerId;

  // Fails when any payload ran or left an element, or the page logged a problem.
  async function assertInert(where) {
    assert.equal(await page.locator('[data-xss]').count(), 0, `no payload element on ${where}`);
    assert.equal(await page.evaluate(() => window.__xss), undefined, `no payload ran on ${where}`);
    assert.deepEqual(problems, [], `no console error, exception or CSP violation on ${where}`);
  }

  // Runs action, which must make the browser log one failed request with this status,
  // and drops that expected entry from the problems.
  async function expectFailedRequest(status, action) {
    const marker = `status of ${status}`;
    const logged = page.waitForEvent('console', (m) => m.type() === 'error' && m.text().includes(marker));
    await action();
    await logged;
    const index = problems.findIndex((problem) => problem.includes(marker));
    assert.notEqual(index, -1, `the browser logged the ${status} response`);
    problems.splice(index, 1);
  }

  async function open(path, heading) {
    await page.goto(`${server.url}${path}`);
    await page.getByRole('heading', { name: heading, exact: true }).first().waitFor({ timeout: WAIT });
  }

  // Waits until scope shows value as text; fails after WAIT ms.
  async function showsText(scope, value, where) {
    try {
      await scope.getByText(value, { exact: false }).first().waitFor({ timeout: WAIT });
    } catch (err) {
      throw new Error(`${where} does not show ${value} as text: ${err.message}`);
    }
  }

  before(async () => {
    mkdirSync(dirname(text.configFile));
    writeFileSync(text.configFile, `# ${text.composeComment}\nservices:\n  app:\n    image: ${TEST_IMAGE}\n`);
    containerId = await docker(dockerHost, 'run', '-d', '--init', '--name', containerName,
      '--label', 'inframon.test=true',
      '--label', `xss.label=${text.label}`,
      '--label', `com.docker.compose.project=${text.project}`,
      '--label', `com.docker.compose.service=${text.service}`,
      '--label', `com.docker.compose.project.config_files=${text.configFile}`,
      '--env', `XSS_ENV=${text.env}`, '--env', `XSS_LINE=${text.logLine}`, '--env', `XSS_TERM=${text.terminalLine}`,
      // The private engine's default network has no port mapping; its user bridge does.
      '--network', 'inframon-test', '--publish', '127.0.0.1::80',
      TEST_IMAGE, 'sh', '-c', `printf "%s\\n" "$XSS_LINE"; while true; do sleep 1; done # ${text.command}`);
    server = new Server(binary, dockerHost);
    await server.start();
    const token = await server.login(ADMIN_USERNAME, ADMIN_PASSWORD);
    const group = await server.api('POST', '/groups', token,
      { name: text.groupName, description: text.groupDescription, color: '#3366cc' });
    await server.api('PUT', `/groups/${group.id}/containers`, token, { container_ids: [containerId] });
    const failed = await fetch(`${server.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', 'User-Agent': text.userAgent },
      body: JSON.stringify({ username: text.username, password: 'not-the-password' }),
    });
    assert.equal(failed.status, 401, 'the login with the payload username fails');

    browser = await launchBrowser();
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await checkedPage(context, problems);
    page.on('dialog', async (dialog) => {
      problems.push(`${dialog.type()} dialog on ${page.url()}: ${dialog.message()}`);
      await dialog.dismiss();
    });
    await signIn(page, server.url, WAIT);
  });

  after(async () => {
    await closeBrowserAndServer(browser, server, problems);
    await docker(dockerHost, 'rm', '-f', containerName).catch((err) => console.log(err.message));
    rmSync(composeFolder, { recursive: true, force: true });
  });

  test('containers table and sidebar show compose and group names as text', async () => {
    await open('/containers', 'Containers');
    const table = page.locator('table');
    const row = table.locator('tr', { hasText: containerName });
    await row.waitFor({ timeout: WAIT });
    await showsText(row, `${text.project}/${text.service}`, 'the container row');
    await showsText(row, text.groupName, 'the group tag');
    const sidebar = page.getByRole('navigation', { name: 'Compose projects and groups' });
    await showsText(sidebar, text.project, 'the sidebar');
    await showsText(sidebar, text.groupName, 'the sidebar');

    const link = row.locator('a.port');
    assert.equal(await link.count(), 1, 'the published port has a link');
    assert.match(await link.getAttribute('href'), /^http:\/\/127\.0\.0\.1:\d+\/$/, 'the port link is a plain http URL');
    for (const anchor of await page.locator('a[href]').all()) {
      assert.doesNotMatch(await anchor.getAttribute('href'), /^\s*javascript:/i, 'no javascript: link');
    }
    await assertInert('the containers page');
  });

  test('container detail shows command, environment and labels as text', async () => {
    await open(`/containers/${containerName}`, containerName);
    await showsText(page.locator('dl'), text.command, 'the overview command');
    await showsText(page.locator('dl'), `${text.project} / ${text.service}`, 'the overview compose row');
    await showsText(page.locator('main'), `XSS_ENV=${text.env}`, 'the environment list');
    await assertInert('the container overview');

    await page.getByRole('tab', { name: 'Compose' }).click();
    await showsText(page.locator('main'), text.configFile, 'the compose tab');
    await showsText(page.getByLabel('Compose file'), text.composeComment, 'the compose file view');
    await page.getByRole('tab', { name: 'Inspect' }).click();
    const json = page.getByLabel('Inspect JSON');
    await showsText(json, text.label, 'the inspect JSON');
    await showsText(json, text.env, 'the inspect JSON');
    await assertInert('the container detail page');
  });

  test('compose page shows project and service names as text', async () => {
    await open('/compose', 'Compose projects');
    const card = page.locator('article', { hasText: text.service });
    await card.waitFor({ timeout: WAIT });
    await showsText(card, text.project, 'the project card');
    await showsText(card, text.configFile, 'the project card');
    // The card takes its accessible name from its heading, whatever the project name.
    assert.equal(await page.getByRole('article', { name: text.project }).count(), 1, 'the card is named after the project');
    for (const anchor of await card.locator('a[href]').all()) {
      assert.match(await anchor.getAttribute('href'), /^\/(containers|logs)[/?]/, 'project links stay on the server');
    }

    // The confirmation of a project action quotes the name too. Cancel leaves the project
    // as it is.
    await card.getByRole('button', { name: 'Restart', exact: true }).click();
    const dialog = page.getByRole('dialog');
    await showsText(dialog, `project "${text.project}"`, 'the confirmation dialog');
    await dialog.getByRole('button', { name: 'Cancel' }).click();
    await dialog.waitFor({ state: 'hidden', timeout: WAIT });
    await assertInert('the compose page');
  });

  test('groups page shows name and description as text', async () => {
    await open('/groups', 'Groups');
    await showsText(page.locator('main'), text.groupName, 'the groups page');
    await showsText(page.locator('main'), text.groupDescription, 'the groups page');
    await assertInert('the groups page');
  });

  test('audit log shows username and user agent as text', async () => {
    await open('/admin/audit', 'Audit log');
    const table = page.locator('table');
    await showsText(table, text.username, 'the audit table');
    const agentCell = table.locator(`td[title="${text.userAgent.replace(/"/g, '\\"')}"]`);
    assert.equal(await agentCell.count(), 1, 'the user agent is the cell title, unchanged');
    await assertInert('the audit log page');
  });

  test('merged logs and events show the container as text', async () => {
    await open(`/logs?containers=${containerId}`, 'Merged logs');
    await showsText(page.getByLabel('Merged log lines'), text.logLine, 'the merged log');
    await assertInert('the merged logs page');

    await open('/events', 'Engine events');
    await docker(dockerHost, 'pause', containerName);
    await docker(dockerHost, 'unpause', containerName);
    const rows = page.locator(`tr[data-name="${containerName}"]`);
    await rows.filter({ hasText: 'unpause' }).waitFor({ timeout: WAIT });
    await assertInert('the events page');
  });

  test('terminal shows shell output and OSC 8 links as text', async () => {
    await open(`/containers/${containerName}`, containerName);
    await page.getByRole('tab', { name: 'Terminal' }).click();
    await page.getByText('Connected: /bin/sh in the container').waitFor({ timeout: WAIT });
    const screen = page.locator('.xterm-rows');
    await screen.waitFor({ timeout: WAIT });
    // Two OSC 8 hyperlinks follow the payload line: one to a javascript: URL, which xterm
    // must not turn into a link, and one to a loopback http: URL as a control that the
    // click below does activate links (xterm then asks before it opens one, and the
    // dialog handler dismisses that question).
    await page.locator('.xterm').click();
    await page.keyboard.type(
      "printf '%s\\n' \"$XSS_TERM\"; " +
      "printf '\\033]8;;javascript:window.__xss=23\\033\\\\js-link-text\\033]8;;\\033\\\\\\n'; " +
      "printf '\\033]8;;http://127.0.0.1:9/\\033\\\\http-link-text\\033]8;;\\033\\\\\\n'\n");
    await showsText(screen, text.terminalLine, 'the terminal');
    const clickText = async (label) => {
      const span = screen.getByText(label, { exact: true }).last();
      await span.waitFor({ timeout: WAIT });
      const box = await span.boundingBox();
      const x = box.x + box.width / 2;
      const y = box.y + box.height / 2;
      // xterm finds links on hover, so the pointer moves there before it clicks.
      await page.mouse.move(x, y);
      await page.waitForTimeout(200);
      await page.mouse.click(x, y);
      await page.waitForTimeout(300);
    };
    await clickText('js-link-text');
    await assertInert('the terminal after a click on the javascript: link');
    await clickText('http-link-text');
    assert.equal(problems.length, 1, 'the click on the http: link asks once');
    assert.match(problems[0], /^confirm dialog .*http:\/\/127\.0\.0\.1:9\//, 'xterm asks before it opens the http: link');
    problems.length = 0;
    assert.equal(browser.contexts()[0].pages().length, 1, 'no window opened from the terminal');
    await assertInert('the terminal');
  });

  test('crafted addresses show their parts as text', async () => {
    // The server rejects both ids with 422, which the pages show as an error.
    const id = payload(24);
    await expectFailedRequest(422, () => page.goto(`${server.url}/containers/${encodeURIComponent(id)}`));
    await showsText(page.getByRole('heading', { level: 1 }), id, 'the detail page of an invalid id');
    await assertInert('the detail page of an invalid id');

    await expectFailedRequest(422, () => open(`/logs?containers=${encodeURIComponent(payload(25))}`, 'Merged logs'));
    await assertInert('the merged logs page with a crafted container list');

    // A % that starts no valid escape cannot be decoded, so the address names no container.
    await open('/containers/%E0%A4%A', 'Page not found');
    await assertInert('the detail page of an undecodable id');
  });
});
