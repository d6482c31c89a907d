// Passwords and sign-in in headless Chromium against the real server. The tests cover the
// account page's password change, an admin setting another user's password and the UTF-8
// byte limit of new passwords. They also cover the sign-in form's one retry after a real
// 503 from a full password-hashing gate, and the notice shown outside a secure context.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  ADMIN_PASSWORD,
  ADMIN_USERNAME,
  checkedPage,
  closeBrowserAndServer,
  launchBrowser,
  requireEnv,
  Server,
  signIn,
} from './harness.mjs';

const WAIT = 20000;
// Chromium logs every response with an error status as a console error. These tests
// provoke 400, 401 and 503 responses on purpose, and any other console error fails the run.
const EXPECTED_ERROR = /Failed to load resource: the server responded with a status of (400|401|503)\b/;
const RESET_USER = { username: 'e2e-reset', password: 'E2e-Reset-Pass-1' };
// 36 two-byte letters: 36 characters and exactly the 72 bytes that bcrypt reads.
const PASSWORD_72_BYTES = 'é'.repeat(36);

describe('passwords and sign-in', () => {
  const binary = requireEnv('INFRAMON_BIN', 'run through ctest (make test), which sets it');
  const dockerHost = requireEnv('INFRAMON_TEST_DOCKER_HOST', 'run `make test`, which starts a private engine');
  const problems = [];
  let server;
  let browser;
  let context;
  let page;

  before(async () => {
    // Two HTTP threads leave one password-hashing slot, so that one login in progress
    // makes a second one get 503.
    server = new Server(binary, dockerHost, { HTTP_THREADS: '2' });
    await server.start();
    browser = await launchBrowser();
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    page = await checkedPage(context, problems);
    await signIn(page, server.url, WAIT);
  });

  after(async () => {
    await closeBrowserAndServer(browser, server, problems);
  });

  // Counts the requests that the page sends to an API path from now on.
  function countRequests(target, method, path) {
    const counter = { count: 0 };
    target.on('request', (request) => {
      if (request.method() === method && new URL(request.url()).pathname === `/api/v1${path}`) {
        counter.count++;
      }
    });
    return counter;
  }

  // Sends logins in three loops until stop() is called, so that the server's only
  // password-hashing slot is almost always taken. Resolves busy once a login got 503.
  function startBusyLogins() {
    let stopped = false;
    let onBusy;
    const busy = new Promise((resolve) => {
      onBusy = resolve;
    });
    const loop = async () => {
      while (!stopped) {
        const response = await fetch(`${server.url}/api/v1/auth/login`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: JSON.stringify({ username: ADMIN_USERNAME, password: ADMIN_PASSWORD }),
        });
        await response.arrayBuffer();
        if (response.status === 503) {
          onBusy();
          await new Promise((resolve) => setTimeout(resolve, 20));
        }
      }
    };
    const loops = Promise.all([loop(), loop(), loop()]);
    return {
      busy,
      stop: async () => {
        stopped = true;
        await loops;
      },
    };
  }

  test('the account page changes the password', async () => {
    const otherSession = await server.login(ADMIN_USERNAME, ADMIN_PASSWORD);
    const changes = countRequests(page, 'POST', '/auth/change-password');
    await page.locator('a.who').click();
    const section = page.getByRole('region', { name: 'Change password' });
    await section.waitFor({ timeout: WAIT });
    const current = section.getByLabel('Current password');
    const next = section.getByLabel('New password (8 characters to 72 bytes)');
    const repeated = section.getByLabel('Repeat the new password');
    const submit = section.getByRole('button', { name: 'Change password' });

    // 37 two-byte letters are 74 bytes: the form names the limit and sends nothing.
    await current.fill(ADMIN_PASSWORD);
    await next.fill('é'.repeat(37));
    await repeated.fill('é'.repeat(37));
    await section.getByText('The password is 74 bytes in UTF-8; the maximum is 72 bytes.').waitFor({ timeout: WAIT });
    await submit.click();
    await next.fill('short');
    await section.getByText('The password is 5 characters long; the minimum is 8.').waitFor({ timeout: WAIT });
    await submit.click();
    assert.equal(changes.count, 0, 'an invalid new password is not sent');

    await next.fill('E2e-Changed-Pass-2');
    await repeated.fill('E2e-Changed-Pass-3');
    await section.getByText('The two passwords differ.').waitFor({ timeout: WAIT });
    await submit.click();
    assert.equal(changes.count, 0, 'differing passwords are not sent');

    await current.fill('not-the-current-password');
    await repeated.fill('E2e-Changed-Pass-2');
    await submit.click();
    await section.getByRole('alert').filter({ hasText: 'Current password is incorrect' }).waitFor({ timeout: WAIT });
    assert.equal(changes.count, 1);

    await current.fill(ADMIN_PASSWORD);
    await submit.click();
    await section.getByRole('status').filter({ hasText: 'your other sessions have been signed out' }).waitFor({ timeout: WAIT });
    assert.equal(await current.inputValue(), '', 'the form is cleared after a change');
    await assert.rejects(server.api('GET', '/auth/me', otherSession), /returned 401/, 'the other session was signed out');
    assert.ok(await server.login(ADMIN_USERNAME, 'E2e-Changed-Pass-2'), 'the new password signs in');

    // Put the password back for the other tests, through the form, because a change made
    // with another session would sign this page out.
    await current.fill('E2e-Changed-Pass-2');
    await next.fill(ADMIN_PASSWORD);
    await repeated.fill(ADMIN_PASSWORD);
    await submit.click();
    await section.getByRole('status').filter({ hasText: 'your other sessions have been signed out' }).waitFor({ timeout: WAIT });
    assert.equal(changes.count, 3);
    assert.ok(await server.login(ADMIN_USERNAME, ADMIN_PASSWORD), 'the old password signs in again');
  });

  test('an admin sets the password of another user', async () => {
    const adminToken = await server.login(ADMIN_USERNAME, ADMIN_PASSWORD);
    await server.api('POST', '/users', adminToken, {
      username: RESET_USER.username,
      email: 'reset@example.test',
      password: RESET_USER.password,
      password_confirm: RESET_USER.password,
      role: 'viewer',
    });
    const userSession = await server.login(RESET_USER.username, RESET_USER.password);
    const puts = { count: 0 };
    page.on('request', (request) => {
      if (request.method() === 'PUT' && /\/api\/v1\/users\/\d+$/.test(new URL(request.url()).pathname)) {
        puts.count++;
      }
    });
    await page.getByRole('link', { name: 'Users' }).click();
    const row = page.locator(`tr[data-user="${RESET_USER.username}"]`);
    await row.waitFor({ timeout: WAIT });
    assert.equal(await page.locator(`tr[data-user="${ADMIN_USERNAME}"]`).getByRole('button', { name: 'Set password' }).count(), 0,
      'the admin changes their own password on the account page');

    await row.getByRole('button', { name: 'Set password' }).click();
    const dialog = page.getByRole('dialog', { name: `Set the password of ${RESET_USER.username}` });
    const next = dialog.getByLabel('New password (8 characters to 72 bytes)');
    const repeated = dialog.getByLabel('Repeat the new password');
    // A limit in characters lets these 40 through, but they are 80 bytes.
    await next.fill('é'.repeat(40));
    await repeated.fill('é'.repeat(40));
    await dialog.getByText('The password is 80 bytes in UTF-8; the maximum is 72 bytes.').waitFor({ timeout: WAIT });
    await dialog.getByRole('button', { name: 'Set password' }).click();
    assert.equal(puts.count, 0, 'a password over 72 bytes is not sent');

    await next.fill(PASSWORD_72_BYTES);
    await repeated.fill(PASSWORD_72_BYTES);
    await dialog.getByRole('button', { name: 'Set password' }).click();
    await page.getByRole('status').filter({ hasText: `Password of "${RESET_USER.username}" set` }).waitFor({ timeout: WAIT });
    await dialog.waitFor({ state: 'detached', timeout: WAIT });
    assert.equal(puts.count, 1);
    assert.ok(await server.login(RESET_USER.username, PASSWORD_72_BYTES), 'the 72-byte password signs in');
    await assert.rejects(server.api('GET', '/auth/me', userSession), /returned 401/, 'the user was signed out');
  });

  test('the new-user form applies the byte limit', async () => {
    const creates = countRequests(page, 'POST', '/users');
    const form = page.locator('form', { hasText: 'New user' });
    await form.getByLabel('Username').fill('e2e-long');
    await form.getByLabel('Email').fill('long@example.test');
    await form.getByLabel('Password (8 characters to 72 bytes)').fill('a'.repeat(73));
    await form.getByLabel('Repeat the password').fill('a'.repeat(73));
    await form.getByText('The password is 73 bytes in UTF-8; the maximum is 72 bytes.').waitFor({ timeout: WAIT });
    assert.equal(await form.getByLabel('Password (8 characters to 72 bytes)').getAttribute('maxlength'), null,
      'no character limit stands in for the byte limit');
    await form.getByRole('button', { name: 'Create user' }).click();
    assert.equal(creates.count, 0, 'a 73-byte password is not sent');
  });

  // Signs in on a new page while logins from this process keep the only hashing slot
  // taken, and returns the statuses of the page's login requests and when each was sent.
  // Holding a request back changes only its timing, and the server produces every
  // response.
  async function signInWhileBusy() {
    const ownContext = await browser.newContext();
    const signInPage = await checkedPage(ownContext, problems);
    const statuses = [];
    signInPage.on('response', (response) => {
      if (new URL(response.url()).pathname === '/api/v1/auth/login') {
        statuses.push(response.status());
      }
    });

    // The first request goes out once a login from the loops got 503, and the retry once
    // the loops stopped.
    let busyLogins = null;
    const sentAt = [];
    await signInPage.route('**/api/v1/auth/login', async (route) => {
      sentAt.push(Date.now());
      if (!busyLogins) {
        busyLogins = startBusyLogins();
        await busyLogins.busy;
      } else {
        await busyLogins.stop();
      }
      await route.continue();
    });

    await signInPage.goto(server.url);
    await signInPage.getByLabel('Username').fill(ADMIN_USERNAME);
    await signInPage.getByLabel('Password').fill(ADMIN_PASSWORD);
    await signInPage.getByRole('button', { name: 'Sign in' }).click();
    const waitNote = signInPage.getByText('The server is busy with other sign-ins; retrying in 1 s…');
    const dashboard = signInPage.getByRole('heading', { name: 'Dashboard' });
    await waitNote.or(dashboard).first().waitFor({ timeout: WAIT });
    const noteShown = await waitNote.isVisible();
    await dashboard.waitFor({ timeout: WAIT });
    await busyLogins?.stop();
    await ownContext.close();
    return { statuses, sentAt, noteShown };
  }

  test('sign-in retries once after 503', async () => {
    // The HTTP server binds each connection to one of its two threads. A sign-in request
    // that lands on the thread that is hashing waits for it and then finds the slot free,
    // so it gets 200 without a 503. Such attempts are repeated.
    let attempt;
    for (let i = 0; i < 8; i++) {
      attempt = await signInWhileBusy();
      if (attempt.statuses[0] === 503) {
        break;
      }
    }
    const { statuses, sentAt, noteShown } = attempt;
    assert.deepEqual(statuses, [503, 200], 'in 8 attempts, none got 503 first');
    assert.ok(noteShown, 'the form said that it retries');
    assert.ok(sentAt[1] - sentAt[0] >= 1000, `the retry waited the Retry-After second (${sentAt[1] - sentAt[0]} ms)`);
  });

  test('the sign-in page warns without a secure context', async () => {
    const loopbackContext = await browser.newContext();
    const loopbackPage = await checkedPage(loopbackContext, problems);
    await loopbackPage.goto(server.url);
    await loopbackPage.getByRole('button', { name: 'Sign in' }).waitFor({ timeout: WAIT });
    assert.equal(await loopbackPage.getByRole('note').count(), 0, 'no notice at 127.0.0.1, a secure context');
    await loopbackContext.close();
    // inframon.test resolves to the loopback address in this browser only. Chromium treats
    // plain HTTP at that name as insecure, as it would a LAN address.
    const namedBrowser = await launchBrowser([`--host-resolver-rules=MAP inframon.test 127.0.0.1`]);
    // The reload's refresh request carries no cookie, which the server rejects with 422.
    const namedProblems = [];
    try {
      const namedPage = await checkedPage(await namedBrowser.newContext(), namedProblems);
      await signIn(namedPage, `http://inframon.test:${server.port}/`, WAIT);
      await namedPage.reload();
      const notice = namedPage.getByRole('note');
      await notice.waitFor({ timeout: WAIT });
      assert.match(await notice.textContent(), /not served over HTTPS.*every reload returns here.*TLS with a reverse proxy.*docs\/deploy\.md/);
      assert.equal(await namedPage.getByRole('heading', { name: 'Dashboard' }).count(), 0, 'the reload signed the user out, as the notice says');
    } finally {
      await namedBrowser.close();
    }
    const unexpected = namedProblems.filter((problem) => !/status of 422\b/.test(problem));
    assert.deepEqual(unexpected, []);
  });

  test('no unexpected console errors', () => {
    assert.deepEqual(problems.filter((problem) => !EXPECTED_ERROR.test(problem)), []);
  });
});
