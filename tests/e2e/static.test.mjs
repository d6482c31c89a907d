// WEB_DIR serving, which the browser tests do not reach (they use the embedded copy):
// files and caching, the page fallback, and paths that try to leave the folder.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { requireEnv, Server } from './harness.mjs';

// Sends one raw request, so that "..", "%2e%2e" and backslashes reach the server as
// written (fetch would normalise them). Returns the status and the body.
function rawGet(port, target) {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
    });
    const chunks = [];
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      resolve({ status: Number(text.split(' ')[1]), body: text.slice(text.indexOf('\r\n\r\n') + 4) });
    });
  });
}

describe('WEB_DIR', () => {
  const binary = requireEnv('INFRAMON_BIN', 'run through ctest (make test), which sets it');
  const dockerHost = requireEnv('INFRAMON_TEST_DOCKER_HOST', 'run `make test`, which starts a private engine');
  const root = mkdtempSync(join(tmpdir(), 'im-webdir-'));
  const site = join(root, 'site');
  const SECRET = 'secret-outside-web-dir';
  let server;

  before(async () => {
    mkdirSync(join(site, 'assets'), { recursive: true });
    writeFileSync(join(site, 'index.html'), '<!doctype html><title>dev index</title>');
    writeFileSync(join(site, 'assets', 'app-1234abcd.js'), 'console.log("dev");');
    writeFileSync(join(root, 'secret.txt'), SECRET);
    symlinkSync(join(root, 'secret.txt'), join(site, 'link.txt'));
    server = new Server(binary, dockerHost, { WEB_DIR: site });
    await server.start();
  });

  after(async () => {
    await server?.stop();
    rmSync(root, { recursive: true, force: true });
  });

  test('serves files with an ETag and revalidation', async () => {
    const response = await fetch(`${server.url}/assets/app-1234abcd.js`);
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type'), /^text\/javascript/);
    assert.equal(response.headers.get('cache-control'), 'no-cache');
    assert.equal(await response.text(), 'console.log("dev");');
    const etag = response.headers.get('etag');
    const again = await fetch(`${server.url}/assets/app-1234abcd.js`, { headers: { 'If-None-Match': etag } });
    assert.equal(again.status, 304);
  });

  test('page URLs get index.html', async () => {
    for (const path of ['/', '/containers', '/containers/web.1', '/admin/users']) {
      const response = await fetch(`${server.url}${path}`);
      assert.equal(response.status, 200, path);
      assert.match(await response.text(), /dev index/, path);
    }
    assert.equal((await fetch(`${server.url}/assets/missing.js`)).status, 404);
    assert.equal((await fetch(`${server.url}/missing.png`)).status, 404);
  });

  test('paths cannot leave the folder', async () => {
    const attempts = [
      '/../secret.txt',
      '/assets/../../secret.txt',
      '/%2e%2e/secret.txt',
      '/assets/%2e%2e/%2e%2e/secret.txt',
      '/..%2fsecret.txt',
      '/..%5csecret.txt',
      '/link.txt',
      '/./index.html',
    ];
    for (const target of attempts) {
      const { status, body } = await rawGet(server.port, target);
      assert.ok(!body.includes(SECRET), `${target} returned the file outside WEB_DIR`);
      assert.ok(status === 404 || status === 400, `${target} gave ${status}`);
    }
  });
});
