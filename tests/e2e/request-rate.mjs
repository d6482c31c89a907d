// Counts the API requests that one visible tab of the dashboard and one of the container
// list send in a minute, against the real server with a fresh database and the private
// test engine. Not part of the test run (run.sh): run it by hand with INFRAMON_BIN and
// INFRAMON_TEST_DOCKER_HOST set, as run.sh describes, to compare with
// RATE_LIMIT_MAX_REQUESTS (100 per 60 s by default).
//
//   node request-rate.mjs [seconds]     (default 60)
import { launchBrowser, requireEnv, Server, signIn } from './harness.mjs';

const seconds = Number(process.argv[2] ?? 60);
const binary = requireEnv('INFRAMON_BIN', 'the inframon binary to measure');
const dockerHost = requireEnv('INFRAMON_TEST_DOCKER_HOST', 'the engine that the server reads');

// Opens path in a signed-in page and returns the API requests by path that the page sent
// in the following `seconds`, after the first load settled for 3 s.
async function countRequests(page, path) {
  await page.evaluate((target) => {
    history.pushState(null, '', target);
    dispatchEvent(new PopStateEvent('popstate'));
  }, path);
  await page.waitForTimeout(3000);
  const counts = new Map();
  const onRequest = (request) => {
    const url = new URL(request.url());
    if (url.pathname.startsWith('/api/')) {
      counts.set(url.pathname, (counts.get(url.pathname) ?? 0) + 1);
    }
  };
  page.on('request', onRequest);
  await page.waitForTimeout(seconds * 1000);
  page.off('request', onRequest);
  return counts;
}

const server = new Server(binary, dockerHost);
await server.start();
const browser = await launchBrowser();
try {
  const page = await browser.newPage();
  await signIn(page, server.url);
  for (const path of ['/', '/containers']) {
    const counts = await countRequests(page, path);
    const total = [...counts.values()].reduce((sum, n) => sum + n, 0);
    console.log(`${path}: ${total} API requests in ${seconds} s (${((total * 60) / seconds).toFixed(1)} a minute)`);
    for (const [apiPath, n] of [...counts].sort((a, b) => b[1] - a[1])) {
      console.log(`  ${n}\t${apiPath}`);
    }
  }
} finally {
  await browser.close();
  await server.stop();
}
