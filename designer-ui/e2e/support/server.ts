// A real `kangdao` server (the debug build the Rust tests use) on SQLite in a temporary folder,
// with an administrator, for the browser tests.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'

export const ADMIN = { username: 'admin', password: 'admin-password-1' }

const binary = resolve(process.env.KANGDAO_BIN ?? join(__dirname, '../../../target/debug/kangdao'))

function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const probe = createServer()
    probe.once('error', fail)
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address()
      const port = typeof address === 'object' && address ? address.port : 0
      probe.close(() => done(port))
    })
  })
}

export interface RunningServer {
  base: string
  log: () => string
  stop: () => Promise<void>
}

export async function startServer(): Promise<RunningServer> {
  const dataDir = mkdtempSync(join(tmpdir(), 'kangdao-e2e-'))
  const common = ['--data-dir', dataDir, '--log-format', 'text']
  const added = spawnSync(binary, [...common, 'user', 'add', '--username', ADMIN.username, '--admin'], {
    input: `${ADMIN.password}\n${ADMIN.password}\n`,
    encoding: 'utf8',
  })
  if (added.status !== 0) {
    throw new Error(`could not add the administrator with ${binary}: ${added.stderr || added.error?.message}`)
  }
  const port = await freePort()
  const base = `http://127.0.0.1:${port}`
  let output = ''
  const child: ChildProcess = spawn(binary, [...common, '--bind', `127.0.0.1:${port}`, 'serve'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()))
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()))
  const exited = new Promise<void>((done) => child.once('exit', () => done()))

  const deadline = Date.now() + 60_000
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the server stopped at start:\n${output}`)
    try {
      if ((await fetch(`${base}/readyz`)).ok) break
    } catch {
      // Not listening yet.
    }
    if (Date.now() > deadline) throw new Error(`the server was not ready within 60 s:\n${output}`)
    await new Promise((r) => setTimeout(r, 200))
  }

  return {
    base,
    log: () => output,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM')
        await exited
      }
      rmSync(dataDir, { recursive: true, force: true })
    },
  }
}

/** An API session as an integration would hold it: cookie and CSRF token. */
export async function apiSession(
  base: string,
): Promise<(method: string, path: string, body?: unknown, headers?: Record<string, string>) => Promise<Response>> {
  const login = await fetch(`${base}/api/v1/auth/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(ADMIN),
  })
  if (!login.ok) throw new Error(`log-in failed: ${login.status} ${await login.text()}`)
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!
  const { csrf_token: csrf } = (await login.json()) as { csrf_token: string }
  return (method, path, body, headers = {}) =>
    fetch(`${base}${path}`, {
      method,
      headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json', ...headers },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
}
