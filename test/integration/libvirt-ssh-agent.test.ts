// ssh-agent authentication of the libvirt SSH transport, against real
// OpenSSH: ssh-agent and ssh-add (Debian's openssh-client) with the agent
// socket in a temp dir, and the loopback sshd of test/fixtures/sshd.ts that
// lets root in by key, so `qemu+ssh://root@…/system` runs
// `virt-ssh-helper qemu:///system` against the system daemon. The client is
// given the agent socket and nothing else: no key, no password.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { appendFile, mkdtemp, readFile, rm } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { LibvirtClient, LibvirtConnectionError } from '../../src/main/libvirt/index.js'
import { virsh } from '../fixtures/guest.js'
import { startSshd, type TestSshd } from '../fixtures/sshd.js'
import {
  commandsUnder,
  hypervisorHealth,
  listeningUrl,
  serveLibvirtUri,
  sshdPid,
  stopChild,
  waitUntil,
} from './libvirt-ssh-helpers.js'

const run = promisify(execFile)

interface TestAgent {
  socket: string
  proc: ChildProcess
  /** `ssh-add` of a private key file into this agent. */
  add(keyFile: string): Promise<void>
  /** Stops the agent (SIGTERM: it removes its socket). */
  stop(): Promise<void>
}

/** A real ssh-agent in the foreground (-D), so this process owns its pid; socket at `socket`. */
async function startAgent(socket: string): Promise<TestAgent> {
  const proc = spawn('ssh-agent', ['-D', '-a', socket], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  proc.stderr?.on('data', d => (stderr += String(d)))
  const end = Date.now() + 10_000
  while (!existsSync(socket)) {
    if (proc.exitCode !== null) throw new Error(`ssh-agent exited with ${proc.exitCode}: ${stderr}`)
    if (Date.now() > end) throw new Error(`ssh-agent made no socket at ${socket} within 10 s: ${stderr}`)
    await new Promise(r => setTimeout(r, 50))
  }
  return {
    socket,
    proc,
    add: async keyFile => {
      await run('ssh-add', [keyFile], { env: { ...process.env, SSH_AUTH_SOCK: socket } })
    },
    stop: () =>
      new Promise<void>(r => {
        if (proc.exitCode !== null || proc.signalCode !== null) return r()
        proc.once('exit', () => r())
        proc.kill('SIGTERM')
      }),
  }
}

/** The keys an agent holds, as `ssh-add -l` lists them (fingerprints). */
async function agentKeys(socket: string): Promise<string[]> {
  const r = await run('ssh-add', ['-l'], { env: { ...process.env, SSH_AUTH_SOCK: socket } }).catch(
    (e: { stdout?: string }) => ({ stdout: e.stdout ?? '' }),
  )
  return r.stdout
    .split('\n')
    .map(l => l.split(' ')[1] ?? '')
    .filter(f => f.startsWith('SHA256:'))
}

async function connectError(p: Promise<LibvirtClient>): Promise<LibvirtConnectionError> {
  const r = await p.then(
    async lv => (await lv.close(), undefined),
    (e: unknown) => e,
  )
  expect(r).toBeInstanceOf(LibvirtConnectionError)
  return r as LibvirtConnectionError
}

// Debian's openssh-client ships both.
const agentTools = existsSync('/usr/bin/ssh-agent') && existsSync('/usr/bin/ssh-add')
const skipNote = agentTools ? '' : ' (skipped: ssh-agent/ssh-add of openssh-client are not installed)'

describe.skipIf(!agentTools)(`libvirt client over SSH with an ssh-agent${skipNote}`, () => {
  let sshd: TestSshd
  let dir: string
  let uri: string
  let agent: TestAgent
  let strangerAgent: TestAgent
  let emptyAgent: TestAgent
  let strangerKey: string

  beforeAll(async () => {
    sshd = await startSshd({ allowRoot: true })
    uri = `qemu+ssh://root@127.0.0.1:${sshd.port}/system`
    dir = await mkdtemp(join(tmpdir(), 'voidvm-lvssh-agent-'))
    agent = await startAgent(join(dir, 'agent.sock'))
    await agent.add(join(sshd.dir, 'client_ed25519'))
    // An agent holding one key the host does not authorise, and one holding none.
    strangerKey = join(dir, 'stranger_ed25519')
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', strangerKey])
    strangerAgent = await startAgent(join(dir, 'stranger.sock'))
    await strangerAgent.add(strangerKey)
    emptyAgent = await startAgent(join(dir, 'empty.sock'))
  })

  afterAll(async () => {
    for (const a of [agent, strangerAgent, emptyAgent]) {
      // A test may leave an agent stopped (SIGSTOP); SIGTERM alone would then wait forever.
      a?.proc.kill('SIGCONT')
      await a?.stop()
    }
    await sshd?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  it('logs in with only the agent, runs virt-ssh-helper and makes real calls to the system daemon', async () => {
    expect(await agentKeys(agent.socket)).toHaveLength(1)
    const lv = await LibvirtClient.connect(uri, {
      ssh: { agent: agent.socket, hostFingerprint: sshd.hostKeyFingerprint },
    })
    try {
      const ran = await commandsUnder(await sshdPid(sshd))
      expect(ran).toContain('virt-ssh-helper qemu:///system')
      expect(await lv.getUri()).toBe('qemu:///system')
      expect(await lv.getHostname()).toBe(hostname())
      // Every domain virsh lists before and after (others' guests come and go) is in the list.
      const before = (await virsh('list', '--all', '--name')).split('\n').filter(Boolean)
      const names = (await lv.listAllDomains()).map(d => d.name)
      const after = (await virsh('list', '--all', '--name')).split('\n').filter(Boolean)
      for (const n of before.filter(x => after.includes(x))) expect(names).toContain(n)
    } finally {
      await lv.close()
    }
  })

  it('refuses an agent whose only key the host does not accept with a typed auth error that says what to do', async () => {
    const t0 = Date.now()
    const err = await connectError(
      LibvirtClient.connect(uri, { ssh: { agent: strangerAgent.socket }, connectTimeoutMs: 10_000 }),
    )
    expect(Date.now() - t0).toBeLessThan(8000)
    expect(err.reason).toBe('ssh-auth-failed')
    expect(err.message).toContain(`ssh://root@127.0.0.1:${sshd.port}`)
    expect(err.message).toContain(
      `the server refused the 1 key in the ssh-agent at ${strangerAgent.socket}; ` +
        'ssh-add the key authorised for root on 127.0.0.1 to that agent',
    )
  })

  it('refuses an agent that holds no keys, saying so', async () => {
    expect(await agentKeys(emptyAgent.socket)).toEqual([])
    const t0 = Date.now()
    const err = await connectError(
      LibvirtClient.connect(uri, { ssh: { agent: emptyAgent.socket }, connectTimeoutMs: 10_000 }),
    )
    expect(Date.now() - t0).toBeLessThan(8000)
    expect(err.reason).toBe('ssh-auth-failed')
    expect(err.message).toContain(`the ssh-agent at ${emptyAgent.socket} holds no keys: ssh-add the key`)
  })

  it('reports a missing agent socket by path before trying to log in', async () => {
    const missing = join(dir, 'no-such-agent.sock')
    const t0 = Date.now()
    const err = await connectError(LibvirtClient.connect(uri, { ssh: { agent: missing }, connectTimeoutMs: 10_000 }))
    expect(Date.now() - t0).toBeLessThan(2000)
    expect(err.reason).toBe('ssh-agent-unavailable')
    expect(err.message).toContain(`the ssh-agent at ${missing} cannot be used: the socket does not exist`)
    expect(err.message).toMatch(/start ssh-agent and ssh-add a key/)
  })

  it('reports the stale socket of an agent that was killed', async () => {
    const stale = await startAgent(join(dir, 'stale.sock'))
    await new Promise<void>(r => {
      stale.proc.once('exit', () => r())
      stale.proc.kill('SIGKILL')
    })
    // SIGKILL leaves the socket file behind, as after a crash.
    expect(existsSync(stale.socket)).toBe(true)
    const err = await connectError(LibvirtClient.connect(uri, { ssh: { agent: stale.socket } }))
    expect(err.reason).toBe('ssh-agent-unavailable')
    expect(err.message).toContain(`the ssh-agent at ${stale.socket} cannot be used: nothing listens on it`)
  })

  it('does not hang on an agent that never answers', async () => {
    strangerAgent.proc.kill('SIGSTOP')
    try {
      const t0 = Date.now()
      const err = await connectError(
        LibvirtClient.connect(uri, { ssh: { agent: strangerAgent.socket }, connectTimeoutMs: 2000 }),
      )
      expect(Date.now() - t0).toBeLessThan(5000)
      expect(err.reason).toBe('ssh-agent-unavailable')
      expect(err.message).toContain('the agent did not answer within 2000 ms')
    } finally {
      strangerAgent.proc.kill('SIGCONT')
    }
  })

  it('with a key as well, skips an unusable agent and logs in with the key, as ssh does', async () => {
    const lv = await LibvirtClient.connect(uri, {
      ssh: { privateKey: sshd.privateKey, agent: join(dir, 'no-such-agent.sock') },
    })
    try {
      expect(await lv.getHostname()).toBe(hostname())
    } finally {
      await lv.close()
    }
  })

  it('never puts a password, passphrase or URI password in its errors', async () => {
    const password = `pw-${randomBytes(6).toString('hex')}`
    // Root logs in by key only: the password fails, as do the stranger's agent keys.
    const auth = await connectError(LibvirtClient.connect(uri, { ssh: { password, agent: strangerAgent.socket } }))
    expect(auth.reason).toBe('ssh-auth-failed')
    expect(auth.message).toContain(
      `the server refused the password and the 1 key in the ssh-agent at ${strangerAgent.socket}`,
    )
    expect(auth.message).not.toContain(password)

    const keyFile = join(dir, 'pp_ed25519')
    const passphrase = `pp-${randomBytes(6).toString('hex')}`
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-f', keyFile])
    const key = await readFile(keyFile, 'utf8')
    const wrong = `${passphrase}-wrong`
    const bad = await connectError(LibvirtClient.connect(uri, { ssh: { privateKey: key, passphrase: wrong } }))
    expect(bad.reason).toBe('ssh-key-invalid')
    expect(bad.message).toMatch(/cannot use the private key: .*bad passphrase/)
    expect(bad.message).not.toContain(wrong)
    const none = await connectError(LibvirtClient.connect(uri, { ssh: { privateKey: key } }))
    expect(none.reason).toBe('ssh-key-invalid')
    expect(none.message).toContain('no passphrase given')

    const inUri = await connectError(
      LibvirtClient.connect(`qemu+ssh://root:${password}@127.0.0.1:${sshd.port}/system`, {
        ssh: { agent: agent.socket },
      }),
    )
    expect(inUri.reason).toBe('bad-uri')
    expect(inUri.message).toContain('carries a password')
    expect(inUri.message).not.toContain(password)
  })
})

describe.skipIf(!agentTools)(`voidvm-server serve with a qemu+ssh:// libvirt URI and an ssh-agent${skipNote}`, () => {
  let sshd: TestSshd
  let dir: string
  let agent: TestAgent
  let uri: string
  const children: ChildProcess[] = []

  beforeAll(async () => {
    sshd = await startSshd({ allowRoot: true })
    uri = `qemu+ssh://root@127.0.0.1:${sshd.port}/system`
    dir = await mkdtemp(join(tmpdir(), 'voidvm-lvssh-agent-srv-'))
    agent = await startAgent(join(dir, 'agent.sock'))
    await agent.add(join(sshd.dir, 'client_ed25519'))
  })

  afterAll(async () => {
    for (const c of children) await stopChild(c)
    await agent?.stop()
    await sshd?.stop()
    if (dir) await rm(dir, { recursive: true, force: true })
  })

  const serve = async (name: string, env: Record<string, string>) => {
    const dataDir = await mkdtemp(join(dir, `${name}-`))
    const s = serveLibvirtUri(uri, dataDir, env)
    children.push(s.proc)
    return s
  }

  it('uses the agent of SSH_AUTH_SOCK when no key is configured', async () => {
    const s = await serve('agent', {
      VOIDVM_LIBVIRT_SSH_KEY: '',
      VOIDVM_LIBVIRT_SSH_KEY_PASSPHRASE: '',
      VOIDVM_LIBVIRT_SSH_HOST_FINGERPRINT: sshd.hostKeyFingerprint,
      SSH_AUTH_SOCK: agent.socket,
      VOIDVM_LOG_LEVEL: 'debug',
    })
    try {
      const url = await listeningUrl(s)
      const h = await waitUntil(
        async () => {
          const x = await hypervisorHealth(url)
          return x.connected ? x : undefined
        },
        30_000,
        () => s.out.stderr,
      )
      expect(h.uri).toBe(uri)
      expect(await commandsUnder(await sshdPid(sshd))).toContain('virt-ssh-helper qemu:///system')
    } finally {
      await stopChild(s.proc)
    }
  }, 60_000)

  it('says which agent socket is missing, keeps serving and does not connect', async () => {
    const missing = join(dir, 'gone.sock')
    const s = await serve('missing', { VOIDVM_LIBVIRT_SSH_KEY: '', SSH_AUTH_SOCK: missing })
    try {
      const url = await listeningUrl(s)
      await waitUntil(
        () => (s.out.stdout.includes(missing) || s.out.stderr.includes(missing) ? true : undefined),
        20_000,
        () => s.out.stderr,
      )
      expect(s.out.stdout + s.out.stderr).toContain(
        `the ssh-agent at ${missing} cannot be used: the socket does not exist`,
      )
      expect((await hypervisorHealth(url)).connected).toBe(false)
    } finally {
      await stopChild(s.proc)
    }
  }, 60_000)

  it('refuses to start on a URI that carries a password, and never shows that password', async () => {
    const secret = `uri-pw-${randomBytes(6).toString('hex')}`
    const withPassword = `qemu+ssh://root:${secret}@127.0.0.1:${sshd.port}/system`
    const dataDir = await mkdtemp(join(dir, 'uripw-'))
    const s = serveLibvirtUri(withPassword, dataDir, { SSH_AUTH_SOCK: '', VOIDVM_LOG_LEVEL: 'debug' })
    children.push(s.proc)
    // Such a URI can never work: serve stops at start (exit 2) instead of retrying it forever.
    // 'close', not 'exit': the output is all read by then.
    const code = await new Promise<number | null>(r => s.proc.once('close', c => r(c)))
    expect(code).toBe(2)
    expect(s.out.stderr).toContain('carries a password in its user part')
    expect(s.out.stdout + s.out.stderr).not.toContain(secret)
  }, 60_000)

  it('never logs a wrong key passphrase', async () => {
    const keyFile = join(dir, 'pp_ed25519')
    const passphrase = `pp-${randomBytes(6).toString('hex')}`
    await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', passphrase, '-f', keyFile])
    await appendFile(join(sshd.dir, 'authorized_keys'), await readFile(`${keyFile}.pub`))
    const wrong = `${passphrase}-wrong`
    const s = await serve('pp', {
      VOIDVM_LIBVIRT_SSH_KEY: keyFile,
      VOIDVM_LIBVIRT_SSH_KEY_PASSPHRASE: wrong,
      SSH_AUTH_SOCK: '',
      VOIDVM_LOG_LEVEL: 'debug',
    })
    try {
      const url = await listeningUrl(s)
      await waitUntil(
        () => (/cannot use the private key/.test(s.out.stdout + s.out.stderr) ? true : undefined),
        20_000,
        () => s.out.stderr,
      )
      expect((await hypervisorHealth(url)).connected).toBe(false)
      expect(s.out.stdout + s.out.stderr).not.toContain(passphrase)
    } finally {
      await stopChild(s.proc)
    }
  }, 60_000)
})
