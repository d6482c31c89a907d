// Test setup for the browser tests: the real inframon binary on a free loopback port with
// a fresh SQLite file, containers in the private test engine, and Debian's Chromium.
import { execFile, spawn } from 'node:child_process';
import { createHmac, randomBytes } from 'node:crypto';
import { mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { chromium } from 'playwright-core';

const run = promisify(execFile);

export const ADMIN_USERNAME = 'admin';
export const ADMIN_PASSWORD = 'E2e-Admin-Pass-1';
export const TEST_IMAGE = 'inframon-test/busybox:latest';
export const CHROMIUM = process.env.CHROMIUM_BIN || '/usr/bin/chromium';

export function requireEnv(name, hint) {
  const value = process.env[name];
  if (!value) {
    throw new Error(`environment variable ${name} is missing: ${hint}`);
  }
  return value;
}

async function freePort() {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// Runs the docker CLI against the private engine and returns its stdout.
export async function docker(host, ...args) {
  try {
    const { stdout } = await run('docker', ['-H', host, ...args], { timeout: 120000 });
    return stdout.trim();
  } catch (err) {
    throw new Error(`docker ${args.join(' ')} failed: ${err.stderr || err.message}`);
  }
}

export class Server {
  // extraEnv adds or overrides settings of the server (WEB_DIR, for one).
  constructor(binary, dockerHost, extraEnv = {}) {
    this.binary = binary;
    this.dockerHost = dockerHost;
    this.extraEnv = extraEnv;
    this.dir = mkdtempSync(join(tmpdir(), 'im-e2e-'));
    this.logPath = join(this.dir, 'server.log');
    this.process = null;
  }

  get url() {
    return `http://127.0.0.1:${this.port}`;
  }

  async start() {
    this.port = await freePort();
    const env = { ...process.env };
    for (const name of ['WEB_DIR', 'CORS_ORIGINS', 'TRUSTED_PROXIES', 'HTTP_THREADS']) {
      delete env[name];
    }
    // Kept so that a test can check that the key never reaches a page.
    this.secretKey = randomBytes(32).toString('hex');
    Object.assign(env, {
      HOST: '127.0.0.1',
      PORT: String(this.port),
      DEBUG: 'false',
      SECRET_KEY: this.secretKey,
      ADMIN_USERNAME,
      ADMIN_PASSWORD,
      DATABASE_URL: `sqlite:///${join(this.dir, 'inframon.db')}`,
      DOCKER_HOST: this.dockerHost,
      // The UI polls every few seconds and the test moves fast: the per-IP limit is not
      // under test here.
      RATE_LIMIT_MAX_REQUESTS: '1000000',
      LOG_LEVEL: 'info',
    }, this.extraEnv);
    const log = openSync(this.logPath, 'a');
    this.process = spawn(this.binary, ['serve'], { cwd: this.dir, env, stdio: ['ignore', log, log] });
    let spawnError = null;
    this.process.once('error', (err) => {
      spawnError = err;
    });
    const deadline = Date.now() + 30000;
    while (Date.now() < deadline) {
      if (spawnError) {
        throw new Error(`cannot start ${this.binary}: ${spawnError.message}`);
      }
      if (this.process.exitCode !== null) {
        throw new Error(`inframon exited with ${this.process.exitCode}:\n${this.log()}`);
      }
      try {
        const response = await fetch(`${this.url}/health`);
        if (response.ok) {
          return;
        }
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    throw new Error(`inframon did not answer /health within 30 s:\n${this.log()}`);
  }

  log() {
    try {
      return readFileSync(this.logPath, 'utf8').split('\n').slice(-60).join('\n');
    } catch {
      return '(no log)';
    }
  }

  // Calls the API as `token`'s user and returns the parsed body; throws on an error status.
  async api(method, path, token, body) {
    const response = await fetch(`${this.url}/api/v1${path}`, {
      method,
      headers: {
        Accept: 'application/json',
        'Content-Type': 'application/json',
        ...(token ? { Authorization: `Bearer ${token}` } : {}),
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    if (!response.ok) {
      throw new Error(`${method} ${path} returned ${response.status}: ${text}`);
    }
    return text ? JSON.parse(text) : undefined;
  }

  async login(username, password) {
    const body = await this.api('POST', '/auth/login', null, { username, password });
    return body.access_token;
  }

  async stop() {
    if (this.process && this.process.exitCode === null) {
      this.process.kill('SIGTERM');
      const deadline = Date.now() + 15000;
      while (this.process.exitCode === null && Date.now() < deadline) {
        await sleep(50);
      }
      if (this.process.exitCode === null) {
        this.process.kill('SIGKILL');
      }
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}

// Computes the RFC 6238 code (SHA-1, 6 digits, 30 s steps) of a base32 secret at time
// nowMs, as an authenticator app would.
export function totpCode(base32Secret, nowMs = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const char of base32Secret.replace(/=+$/, '').toUpperCase()) {
    const value = alphabet.indexOf(char);
    if (value < 0) {
      throw new Error(`invalid base32 character ${JSON.stringify(char)} in the TOTP secret`);
    }
    bits += value.toString(2).padStart(5, '0');
  }
  const key = Buffer.from(bits.match(/.{8}/g).map((byte) => parseInt(byte, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(nowMs / 30000)));
  const mac = createHmac('sha1', key).update(counter).digest();
  const offset = mac[mac.length - 1] & 0xf;
  return String((mac.readUInt32BE(offset) & 0x7fffffff) % 1000000).padStart(6, '0');
}

// Starts Debian's docker-registry on a free loopback port with its storage in a temporary
// folder. dockerd treats 127.0.0.0/8 as an insecure registry by default, so images named
// after this address push and pull over plain HTTP with no other host involved.
export async function startRegistry() {
  const binary = '/usr/bin/docker-registry';
  const folder = mkdtempSync(join(tmpdir(), 'im-e2e-registry-'));
  const port = await freePort();
  const address = `127.0.0.1:${port}`;
  const config = join(folder, 'config.yml');
  writeFileSync(config, `version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: ${folder}/data\nhttp:\n  addr: ${address}\n`);
  const log = openSync(join(folder, 'registry.log'), 'a');
  const child = spawn(binary, ['serve', config], { stdio: ['ignore', log, log] });
  let spawnError = null;
  child.once('error', (err) => {
    spawnError = err;
  });
  const stop = async () => {
    if (child.exitCode === null && !spawnError) {
      child.kill('SIGTERM');
      await new Promise((resolve) => child.once('exit', resolve));
    }
    rmSync(folder, { recursive: true, force: true });
  };
  const deadline = Date.now() + 15000;
  while (Date.now() < deadline) {
    if (spawnError || child.exitCode !== null) {
      break;
    }
    try {
      const response = await fetch(`http://${address}/v2/`);
      if (response.ok) {
        return { address, stop };
      }
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  const reason = spawnError ? spawnError.message : `no answer on ${address} within 15 s`;
  await stop();
  throw new Error(`cannot start ${binary}: ${reason}; install the Debian package docker-registry (make deps)`);
}

// extraArgs go to Chromium after the default switches, such as --host-resolver-rules.
export async function launchBrowser(extraArgs = []) {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    // The machine has no outside network: Chromium's own background traffic would only
    // produce refused connections.
    args: [
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      ...extraArgs,
    ],
  });
}

// Opens a page that records console errors, uncaught exceptions and CSP violations in
// `problems`. The test asserts at the end that the list is empty.
export async function checkedPage(context, problems) {
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (event) => {
      console.error(`CSP violation: ${event.violatedDirective} blocked ${event.blockedURI || 'inline code'}`);
    });
  });
  const page = await context.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') {
      problems.push(`console ${message.type()} on ${page.url()}: ${message.text()}`);
    }
  });
  page.on('pageerror', (error) => problems.push(`uncaught exception on ${page.url()}: ${error.message}`));
  return page;
}

// Signs in as the admin through the login form of the page at url and waits for the
// dashboard.
export async function signIn(page, url, timeout = 20000) {
  await page.goto(url);
  await page.getByLabel('Username').fill(ADMIN_USERNAME);
  await page.getByLabel('Password').fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Dashboard' }).waitFor({ timeout });
}

// Closes the browser and stops the server, printing the end of the server log first when
// the page recorded problems or a test failed. Either argument may be undefined when the
// setup failed before it was created.
export async function closeBrowserAndServer(browser, server, problems) {
  await browser?.close();
  if (!server) {
    return;
  }
  if (problems.length || process.exitCode) {
    console.log(`--- server log ---\n${server.log()}`);
  }
  await server.stop();
}
