// The UI's polling in headless Chromium against the real server. A hidden tab sends no
// requests and refreshes at once when shown. A 429 delays each poller's next request by
// the server's Retry-After. The "live" marker turns to a paused state whenever the latest
// poll failed.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { checkedPage, closeBrowserAndServer, launchBrowser, requireEnv, Server, signIn } from './harness.mjs';

const WAIT = 20000;
// The pollers of the dashboard, by API path.
const DASHBOARD_POLLS = ['/api/v1/stats/system', '/api/v1/containers', '/api/v1/stats/system/processes'];

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Opens an in-app page the way a link does, without a reload.
async function openPath(page, path) {
  await page.evaluate((target) => {
    history.pushState(null, '', target);
    dispatchEvent(new PopStateEvent('popstate'));
  }, path);
}

// Records every API request and response of page with the time it was seen.
function recordApi(page) {
  const log = [];
  page.on('request', (request) => {
    const url = new URL(request.url());
    if (url.pathname.startsWith('/api/')) {
      log.push({ kind: 'request', path: url.pathname, at: Date.now() });
    }
  });
  page.on('response', (response) => {
    const url = new URL(response.url());
    if (url.pathname.startsWith('/api/')) {
      log.push({ kind: 'response', path: url.pathname, at: Date.now(), status: response.status(), retryAfter: response.headers()['retry-after'] });
    }
  });
  return log;
}

describe('polling in a hidden tab', () => {
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

  test('a hidden tab stops polling and refreshes when shown', async () => {
    const context = await browser.newContext();
    // Headless Chromium reports every page as visible, so the page's visibility is
    // emulated: window.__setHidden changes document.visibilityState and fires the
    // visibilitychange event, as switching tabs does.
    await context.addInitScript(() => {
      let hidden = false;
      Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => (hidden ? 'hidden' : 'visible') });
      Object.defineProperty(document, 'hidden', { configurable: true, get: () => hidden });
      window.__setHidden = (value) => {
        hidden = value;
        document.dispatchEvent(new Event('visibilitychange'));
      };
    });
    const page = await checkedPage(context, problems);
    await signIn(page, server.url, WAIT);
    await openPath(page, '/containers');
    const marker = page.locator('.page-head .live');
    await marker.and(page.locator('[data-state="live"]')).waitFor({ timeout: WAIT });
    const log = recordApi(page);

    await page.evaluate(() => window.__setHidden(true));
    const hiddenAt = Date.now();
    await marker.filter({ hasText: 'paused while the tab is hidden' }).waitFor({ timeout: WAIT });
    // The list polls every 3 seconds: two intervals pass without a request.
    await sleep(6500);
    const whileHidden = log.filter((entry) => entry.kind === 'request' && entry.at > hiddenAt + 200);
    assert.deepEqual(whileHidden.map((entry) => entry.path), [], 'a hidden tab sends no API requests');

    const shownAt = Date.now();
    await page.evaluate(() => window.__setHidden(false));
    await marker.filter({ hasText: /^\s*live\s*$/ }).waitFor({ timeout: WAIT });
    const deadline = Date.now() + 5000;
    let first;
    while (!first && Date.now() < deadline) {
      first = log.find((entry) => entry.kind === 'request' && entry.path === '/api/v1/containers' && entry.at >= shownAt);
      await sleep(50);
    }
    assert.ok(first, 'the list is requested again after the tab is shown');
    assert.ok(first.at - shownAt < 1000, `the list is requested at once when shown, not at the next interval (${first.at - shownAt} ms)`);
    await context.close();
  });

  test('no console errors', () => {
    assert.deepEqual(problems, []);
  });
});

describe('polling under the rate limit', () => {
  const binary = requireEnv('INFRAMON_BIN', 'run through ctest (make test), which sets it');
  const dockerHost = requireEnv('INFRAMON_TEST_DOCKER_HOST', 'run `make test`, which starts a private engine');
  const WINDOW_SECONDS = 4;
  const problems = [];
  let server;
  let browser;
  let page;

  before(async () => {
    server = new Server(binary, dockerHost, { RATE_LIMIT_MAX_REQUESTS: '20', RATE_LIMIT_WINDOW_SECONDS: String(WINDOW_SECONDS) });
    await server.start();
    browser = await launchBrowser();
    page = await checkedPage(await browser.newContext({ viewport: { width: 1280, height: 800 } }), problems);
    await signIn(page, server.url, WAIT);
  });

  after(async () => {
    await closeBrowserAndServer(browser, server, problems);
  });

  // Sends counted requests from this process, which shares the page's client address,
  // until the server responds with 429. Returns the number sent.
  async function spendBudget() {
    for (let sent = 1; sent <= 100; sent++) {
      const response = await fetch(`${server.url}/api/v1/auth/me`);
      await response.arrayBuffer();
      if (response.status === 429) {
        return sent;
      }
    }
    throw new Error('no 429 after 100 requests: check that the server applies RATE_LIMIT_MAX_REQUESTS');
  }

  test('a 429 delays each poller by Retry-After', async () => {
    // The limiter weighs the previous window into the current one. To make the wait that
    // the server announces predictable (close to a whole window), the page idles on a
    // page without polling until one full window has passed without requests.
    await openPath(page, '/no-polling-here');
    await page.getByRole('heading', { name: 'Page not found' }).waitFor({ timeout: WAIT });
    const probe = await fetch(`${server.url}/api/v1/auth/me`);
    await probe.arrayBuffer();
    const reset = Number(probe.headers.get('x-ratelimit-reset'));
    assert.ok(reset >= 1, `X-RateLimit-Reset is ${reset}`);
    assert.ok(reset <= WINDOW_SECONDS, `X-RateLimit-Reset is ${reset}`);
    await sleep((reset + WINDOW_SECONDS) * 1000 + 100);
    await spendBudget();

    const log = recordApi(page);
    await openPath(page, '/');
    const marker = page.locator('.page-head .live').first();
    await marker.filter({ hasText: /paused: rate limited, retrying in \d+ s/ }).waitFor({ timeout: WAIT });
    assert.equal(await marker.getAttribute('data-state'), 'waiting');
    await marker.filter({ hasText: /^\s*live\b/ }).waitFor({ timeout: WAIT });

    const limited = log.filter((entry) => entry.kind === 'response' && entry.status === 429 && DASHBOARD_POLLS.includes(entry.path));
    assert.ok(limited.length > 0, 'the dashboard got 429 answers');
    const first = limited.find((entry) => entry.path === '/api/v1/stats/system');
    assert.ok(first, 'the host figures got a 429');
    // The host figures poll every 2 s, so only a longer Retry-After shows the difference.
    assert.ok(Number(first.retryAfter) >= 3, `Retry-After is ${first.retryAfter} s, expected at least 3 s`);
    for (const answer of limited) {
      const waitMs = Number(answer.retryAfter) * 1000;
      const next = log.find((entry) => entry.kind === 'request' && entry.path === answer.path && entry.at > answer.at);
      assert.ok(next, `${answer.path} was requested again after its 429`);
      // 150 ms covers the delay between the browser's timer and this process's clock.
      assert.ok(next.at - answer.at >= waitMs - 150,
        `${answer.path} was requested ${next.at - answer.at} ms after a 429 with Retry-After ${answer.retryAfter}`);
    }
  });

  test('the marker shows stale data when the server is gone', async () => {
    const marker = page.locator('.page-head .live').first();
    await marker.filter({ hasText: /^\s*live\b/ }).waitFor({ timeout: WAIT });
    await server.stop();
    await marker.filter({ hasText: 'paused: the last refresh failed, retrying' }).waitFor({ timeout: WAIT });
    assert.equal(await marker.getAttribute('data-state'), 'failed');
    assert.match(await marker.getAttribute('title'), /The last refresh failed: the server did not answer/);
  });

  test('no unexpected console errors', () => {
    // Chromium logs each 429 and each refused or reset connection as a console error.
    const expected = /status of 429\b|net::ERR_CONNECTION_(REFUSED|RESET)/;
    assert.deepEqual(problems.filter((problem) => !expected.test(problem)), []);
  });
});
