/**
 * Transports: the daemon's unix socket, or an SSH exec channel running
 * `virt-ssh-helper <uri>` (falling back to `nc -U <socket>`) on the remote
 * host. Both yield a Duplex of raw protocol bytes.
 */
import { existsSync } from 'node:fs'
import { connect as netConnect, type Socket } from 'node:net'
import { createHash } from 'node:crypto'
import type { Duplex } from 'node:stream'
import { Client as SshClient, type ConnectConfig } from 'ssh2'
import { LibvirtConnectionError } from './errors.js'

export const SYSTEM_SOCKET_DIR = '/var/run/libvirt'

/** SSH settings for `driver+ssh://user@host[:port]/path` URIs. */
export interface SshTransportOptions {
  /** Overrides the URI's user. */
  username?: string
  /** Overrides the URI's host / port. */
  host?: string
  port?: number
  /** OpenSSH/PEM private key. */
  privateKey?: string | Buffer
  passphrase?: string
  password?: string
  /**
   * Path of an ssh-agent socket (usually process.env.SSH_AUTH_SOCK). Probed
   * before connecting: an unusable agent is an `ssh-agent-unavailable` error
   * when it is the only credential, and skipped (as OpenSSH does) otherwise.
   */
  agent?: string
  /**
   * Pinned host key fingerprint, `SHA256:<base64>` as `ssh-keygen -lf` prints it.
   * A different key fails the connection.
   */
  hostFingerprint?: string
  /** Custom host key check (raw key blob); return false to refuse. */
  hostVerifier?: (key: Buffer) => boolean
  /**
   * Trust on first use when no `hostFingerprint` is given: a key that differs
   * from the one pinned for `host:port` fails the connection before any
   * credential is sent (the check runs in the key exchange, before login); with
   * no pin yet, the key is pinned once login succeeded.
   */
  hostKeyPins?: SshHostKeyPins
  /** `auto` (default): virt-ssh-helper when installed, else nc; `native`: helper only; `netcat`: nc only. */
  proxy?: 'auto' | 'native' | 'netcat'
  /** Remote socket for the nc fallback (default: the system socket for the URI). */
  remoteSocket?: string
  /** Remote command overriding both (gets the protocol on stdin/stdout). */
  command?: string
  readyTimeoutMs?: number
}

/** A store of host keys pinned on first use, keyed by `host:port`. */
export interface SshHostKeyPins {
  /** Where the pins live (a file path), named in the mismatch error as the place to edit. */
  readonly location: string
  /** The fingerprint (`SHA256:…`) pinned for `hostPort`, if any. */
  lookup(hostPort: string): Promise<string | undefined>
  /** Pins `key` for `hostPort` unless a pin exists; resolves with the fingerprint pinned now or before. */
  pin(hostPort: string, key: Buffer): Promise<string>
}

export interface ParsedUri {
  /** The original URI. */
  uri: string
  /** What CONNECT_OPEN gets: scheme without transport, no user/host, transport-only query parameters removed. */
  driverUri: string
  /** The driver name (qemu, test …). */
  driver: string
  transport: 'unix' | 'ssh'
  /** Explicit `?socket=` from the URI. */
  socket: string | undefined
  user: string | undefined
  host: string | undefined
  port: number | undefined
  path: string
}

/** Query parameters the remote driver consumes itself (never forwarded to the daemon). */
const TRANSPORT_PARAMS = new Set([
  'socket',
  'name',
  'command',
  'netcat',
  'keyfile',
  'no_verify',
  'no_tty',
  'known_hosts',
  'sshauth',
  'mode',
  'proxy',
  'pkipath',
])

/** The URI with any `:password` of its user part replaced by `***`: safe for logs and replies. */
export function redactUri(uri: string): string {
  const m = /^([a-z0-9+-]+:\/\/)([^/?#]*)/i.exec(uri)
  // Not `scheme://…` (a typo such as `qemu+ssh:/u:pw@h`): still hide whatever sits between a ':' and an '@'.
  if (!m) return uri.replace(/:[^:@/]*@/g, ':***@')
  const authority = m[2] ?? ''
  // As in parseUri: the user part ends at the last '@' of the authority.
  const at = authority.lastIndexOf('@')
  const colon = authority.indexOf(':')
  if (at < 0 || colon < 0 || colon > at) return uri
  return `${m[1]}${authority.slice(0, colon)}:***${authority.slice(at)}${uri.slice(m[0].length)}`
}

export function parseUri(uri: string): ParsedUri {
  const m = /^([a-z0-9-]+)(?:\+([a-z0-9-]+))?:\/\/([^/?#]*)(\/[^?#]*)?(?:\?([^#]*))?$/i.exec(uri)
  if (!m)
    throw new LibvirtConnectionError(`invalid libvirt URI "${redactUri(uri)}": expected e.g. qemu:///system`, 'bad-uri')
  const driver = (m[1] ?? '').toLowerCase()
  const transportName = (m[2] ?? '').toLowerCase()
  const authority = m[3] ?? ''
  const path = m[4] ?? '/'
  const query = new URLSearchParams(m[5] ?? '')
  let transport: 'unix' | 'ssh'
  if (transportName === 'ssh' || transportName === 'libssh' || transportName === 'libssh2') transport = 'ssh'
  else if (transportName === '' || transportName === 'unix') transport = 'unix'
  else
    throw new LibvirtConnectionError(
      `libvirt URI "${redactUri(uri)}": transport "${transportName}" is not supported (use unix or ssh)`,
      'bad-uri',
    )
  let user: string | undefined
  let hostPort = authority
  const at = authority.lastIndexOf('@')
  if (at >= 0) {
    // `user:password@` would put a secret in every log line and error that names the URI.
    if (authority.slice(0, at).includes(':'))
      throw new LibvirtConnectionError(
        `libvirt URI for ${authority.slice(at + 1)} carries a password in its user part: remove it and give it ` +
          'as the SSH password option, or use a key or an ssh-agent',
        'bad-uri',
      )
    user = decodeURIComponent(authority.slice(0, at))
    hostPort = authority.slice(at + 1)
  }
  let host: string | undefined
  let port: number | undefined
  const hp = /^(\[[^\]]+\]|[^:]*)(?::(\d+))?$/.exec(hostPort)
  if (hp) {
    host = hp[1] ? hp[1].replace(/^\[|\]$/g, '') : undefined
    port = hp[2] ? Number(hp[2]) : undefined
  }
  if (transport === 'ssh' && !host)
    throw new LibvirtConnectionError(`libvirt URI "${redactUri(uri)}" names no SSH host`, 'bad-uri')
  const forwarded = new URLSearchParams()
  for (const [k, v] of query) if (!TRANSPORT_PARAMS.has(k)) forwarded.append(k, v)
  const qs = forwarded.toString()
  return {
    uri,
    driverUri: `${driver}://${path}${qs ? `?${qs}` : ''}`,
    driver,
    transport,
    socket: query.get('socket') ?? undefined,
    user,
    host,
    port,
    path,
  }
}

/**
 * The local daemon socket for a URI: an explicit ?socket=, else the per-user
 * session socket for `/session`, else the modular virtqemud socket when it
 * exists (qemu driver), else the monolithic libvirt-sock.
 */
export function defaultSocketPath(p: ParsedUri, readOnly = false, exists: (f: string) => boolean = existsSync): string {
  if (p.socket) return p.socket
  if (p.path === '/session') {
    const runtime = process.env.XDG_RUNTIME_DIR ?? `/run/user/${process.getuid?.() ?? 0}`
    return `${runtime}/libvirt/${p.driver === 'qemu' ? 'virtqemud' : 'libvirt'}-sock`
  }
  const suffix = readOnly ? '-sock-ro' : '-sock'
  if (p.driver === 'qemu') {
    const modular = `${SYSTEM_SOCKET_DIR}/virtqemud${suffix}`
    if (exists(modular)) return modular
  }
  return `${SYSTEM_SOCKET_DIR}/libvirt${suffix}`
}

export interface OpenedTransport {
  stream: Duplex
  /** For error messages: the socket path or ssh user@host. */
  description: string
  /**
   * Releases what this transport holds: its socket or SSH channel, and the SSH
   * connection once no channel of it is left open.
   */
  dispose(): void
  /**
   * SSH only: another stream to the daemon as a new channel (a new run of the
   * same remote command) on this transport's SSH connection — no second login.
   * Rejects with `ssh-channel-refused` when the SSH server will not open one
   * more channel (sshd's MaxSessions), or `ssh-error` once the connection is gone.
   */
  openChannel?(): Promise<OpenedTransport>
}

export function openUnixSocket(path: string, timeoutMs: number): Promise<OpenedTransport> {
  return new Promise((resolve, reject) => {
    const sock: Socket = netConnect(path)
    const timer = setTimeout(() => {
      sock.destroy()
      reject(
        new LibvirtConnectionError(`connecting to libvirt socket ${path} timed out after ${timeoutMs} ms`, 'ETIMEDOUT'),
      )
    }, timeoutMs)
    sock.once('connect', () => {
      clearTimeout(timer)
      sock.removeAllListeners('error')
      sock.setNoDelay?.(true)
      resolve({ stream: sock, description: path, dispose: () => sock.destroy() })
    })
    sock.once('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      const code = err.code ?? 'transport-error'
      const hint =
        code === 'ENOENT'
          ? 'the socket does not exist (is libvirtd running?)'
          : code === 'ECONNREFUSED'
            ? 'nothing is listening (libvirtd stopped?)'
            : code === 'EACCES'
              ? 'permission denied (add the user to the libvirt group?)'
              : err.message
      reject(new LibvirtConnectionError(`cannot connect to libvirt socket ${path}: ${hint}`, code, { cause: err }))
    })
  })
}

function shellQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`
}

/** The remote command: the helper speaks the protocol on stdio for a URI; nc relays a socket. */
export function sshCommand(p: ParsedUri, o: SshTransportOptions, readOnly = false): string {
  if (o.command) return o.command
  const sock = o.remoteSocket ?? p.socket ?? `${SYSTEM_SOCKET_DIR}/libvirt-sock${readOnly ? '-ro' : ''}`
  const helper = `virt-ssh-helper ${readOnly ? '--readonly ' : ''}${shellQuote(p.driverUri)}`
  const nc = `nc -U ${shellQuote(sock)}`
  const proxy = o.proxy ?? (o.remoteSocket || p.socket ? 'netcat' : 'auto')
  if (proxy === 'native') return helper
  if (proxy === 'netcat') return nc
  return `if command -v virt-ssh-helper >/dev/null 2>&1; then exec ${helper}; else exec ${nc}; fi`
}

export function sshFingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`
}

/** What an ssh-agent socket answered: how many keys it holds, or why it cannot be used. */
export type AgentProbe = { ok: true; keys: number } | { ok: false; code: string; problem: string }

/**
 * Asks the ssh-agent at `path` for its identities (SSH2_AGENTC_REQUEST_IDENTITIES)
 * and counts them. Done before the SSH connection so that a missing, stale or
 * stuck agent is named with its path and errno instead of ssh2's bare
 * "Failed to connect to agent", and so that an auth failure can say whether
 * the agent held any key at all.
 */
export function probeAgent(path: string, timeoutMs: number): Promise<AgentProbe> {
  return new Promise(resolve => {
    const sock = netConnect(path)
    let buf = Buffer.alloc(0)
    const done = (r: AgentProbe) => {
      clearTimeout(timer)
      sock.destroy()
      resolve(r)
    }
    const timer = setTimeout(
      () => done({ ok: false, code: 'ETIMEDOUT', problem: `the agent did not answer within ${timeoutMs} ms` }),
      timeoutMs,
    )
    sock.once('connect', () => sock.write(Buffer.from([0, 0, 0, 1, 11])))
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      if (buf.length < 5 || buf.length < 4 + buf.readUInt32BE(0)) return
      // 12 = SSH2_AGENT_IDENTITIES_ANSWER (uint32 count follows); anything else is a refusal.
      if (buf[4] === 12 && buf.length >= 9) done({ ok: true, keys: buf.readUInt32BE(5) })
      else done({ ok: false, code: 'EPROTO', problem: `the agent refused to list its keys (reply type ${buf[4]})` })
    })
    sock.once('end', () => done({ ok: false, code: 'EPROTO', problem: 'the agent closed the connection unanswered' }))
    sock.once('error', (err: NodeJS.ErrnoException) => {
      const code = err.code ?? 'agent-error'
      const problem =
        code === 'ENOENT'
          ? 'the socket does not exist (is ssh-agent running?)'
          : code === 'ECONNREFUSED'
            ? 'nothing listens on it (a stale socket of an agent that has exited?)'
            : code === 'EACCES'
              ? 'permission denied'
              : err.message
      done({ ok: false, code, problem })
    })
  })
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? '' : 's'}`

export async function openSsh(
  p: ParsedUri,
  o: SshTransportOptions,
  timeoutMs: number,
  readOnly = false,
): Promise<OpenedTransport> {
  const host = o.host ?? p.host ?? 'localhost'
  const port = o.port ?? p.port ?? 22
  const username = o.username ?? p.user ?? process.env.USER ?? 'root'
  const description = `ssh://${username}@${host}:${port}`
  // Messages built from foreign text (ssh2, the remote stderr) never carry the secrets we hold.
  const secrets = [o.password, o.passphrase].filter((x): x is string => !!x && x.length >= 3)
  const scrub = (text: string) => secrets.reduce((t, x) => t.split(x).join('***'), text)

  let agentKeys: number | undefined
  let agentProblem: string | undefined
  if (o.agent) {
    const probe = await probeAgent(o.agent, Math.min(timeoutMs, 5000))
    if (probe.ok) agentKeys = probe.keys
    else {
      agentProblem = `the ssh-agent at ${o.agent} cannot be used: ${probe.problem}`
      // With a key or password as well, go on without the agent, as OpenSSH's client does.
      if (!o.privateKey && !o.password)
        throw new LibvirtConnectionError(
          `${description}: ${agentProblem}; start ssh-agent and ssh-add a key (or point SSH_AUTH_SOCK at a ` +
            'running agent), or give a private key or password',
          'ssh-agent-unavailable',
        )
    }
  }

  /** Why login failed, in terms of what the user gave and what to change. */
  const authFailure = (): string => {
    const tried: string[] = []
    if (o.privateKey) tried.push('the private key')
    if (o.password) tried.push('the password')
    if (agentKeys) tried.push(`the ${plural(agentKeys, 'key')} in the ssh-agent at ${o.agent}`)
    const who = `${username} on ${host}`
    let msg = `${description}: SSH authentication failed`
    if (tried.length > 0) msg += `: the server refused ${tried.join(', ').replace(/, ([^,]*)$/, ' and $1')}`
    if (agentKeys === 0) msg += `; the ssh-agent at ${o.agent} holds no keys: ssh-add the key authorised for ${who}`
    else if (agentKeys && !o.privateKey && !o.password)
      msg += `; ssh-add the key authorised for ${who} to that agent, or authorise one of its keys there`
    else if (tried.length > 0) msg += `; check the credentials authorised for ${who}`
    else msg += ': no credentials were given; give a private key, a password or an ssh-agent (SSH_AUTH_SOCK)'
    if (agentProblem) msg += `; also, ${agentProblem}`
    return scrub(msg)
  }

  return new Promise((resolve, reject) => {
    const client = new SshClient()
    let settled = false
    /** Why the host key was refused (set in the key exchange, reported by the error that follows). */
    let hostKeyRefusal: LibvirtConnectionError | undefined
    /** The key to pin once login succeeds (trust on first use, nothing pinned yet). */
    let keyToPin: Buffer | undefined
    const fail = (err: Error) => {
      if (settled) return
      settled = true
      client.end()
      reject(err)
    }
    const cfg: ConnectConfig = {
      host,
      port,
      username,
      readyTimeout: o.readyTimeoutMs ?? timeoutMs,
      keepaliveInterval: 15_000,
    }
    if (o.privateKey) cfg.privateKey = o.privateKey
    if (o.passphrase) cfg.passphrase = o.passphrase
    if (o.password) cfg.password = o.password
    if (o.agent && !agentProblem) cfg.agent = o.agent
    // A configured fingerprint wins over the pin store.
    const pins = o.hostFingerprint ? undefined : o.hostKeyPins
    const hostPort = `${host.includes(':') ? `[${host}]` : host}:${port}`
    const mismatch = (got: string, pinned: string) =>
      new LibvirtConnectionError(
        pins
          ? `${description}: host key ${got} does not match the pinned ${pinned} (pinned on first use for ` +
              `${hostPort} in ${pins.location}); no credentials were sent to it. If its key was changed on purpose, ` +
              `delete the "${hostPort}" entry from ${pins.location}`
          : `${description}: host key ${got} does not match the pinned ${pinned}`,
        'ssh-host-key-mismatch',
      )
    if (o.hostFingerprint || o.hostVerifier || pins) {
      // ssh2 calls this in the key exchange, before any authentication request.
      cfg.hostVerifier = (key: Buffer, verify: (ok: boolean) => void) => {
        const got = sshFingerprint(key)
        const custom = () => (o.hostVerifier ? o.hostVerifier(key) : true)
        if (o.hostFingerprint) {
          if (got === o.hostFingerprint) return verify(custom())
          hostKeyRefusal = mismatch(got, o.hostFingerprint)
          return verify(false)
        }
        if (!pins) return verify(custom())
        pins.lookup(hostPort).then(
          pinned => {
            if (pinned !== undefined && pinned !== got) {
              hostKeyRefusal = mismatch(got, pinned)
              return verify(false)
            }
            if (pinned === undefined) keyToPin = key
            verify(custom())
          },
          (err: unknown) => {
            hostKeyRefusal = new LibvirtConnectionError(
              `${description}: cannot read the pinned host keys in ${pins.location}: ${err instanceof Error ? err.message : String(err)}`,
              'ssh-host-key-store',
              { cause: err },
            )
            verify(false)
          },
        )
      }
    }
    client.once('ready', () => {
      if (!keyToPin || !pins) return runCommand()
      const key = keyToPin
      // Pinned only now that login worked: a host that refused us pins nothing.
      pins.pin(hostPort, key).then(
        pinned => {
          const got = sshFingerprint(key)
          // Another connection pinned a different key meanwhile.
          if (pinned !== got) return fail(mismatch(got, pinned))
          runCommand()
        },
        (err: unknown) =>
          fail(
            new LibvirtConnectionError(
              `${description}: cannot pin the host key in ${pins.location}: ${err instanceof Error ? err.message : String(err)}`,
              'ssh-host-key-store',
              { cause: err },
            ),
          ),
      )
    })
    /** Open channels on this SSH connection; it ends when the last one closes. */
    let channels = 0
    let connectionClosed = false
    client.on('close', () => (connectionClosed = true))
    const command = sshCommand(p, o, readOnly)
    /** Runs the remote command in a new channel and wraps it as a transport. */
    const exec = (onError: (err: LibvirtConnectionError) => void, onOpen: (t: OpenedTransport) => void) => {
      if (connectionClosed)
        return onError(new LibvirtConnectionError(`${description}: the SSH connection is closed`, 'ssh-error'))
      channels++
      client.exec(command, (err, channel) => {
        if (err) {
          if (--channels === 0) client.end()
          // ssh2 reports a channel the server refused (e.g. MaxSessions reached) this way.
          const refused = /open failed|administratively prohibited|channel open failure/i.test(err.message)
          return onError(
            new LibvirtConnectionError(
              scrub(`${description}: cannot run "${command}": ${err.message}`),
              refused ? 'ssh-channel-refused' : 'ssh-exec',
            ),
          )
        }
        let stderr = ''
        channel.stderr.on('data', (d: Buffer) => {
          // Kept for the error message when the helper exits early.
          if (stderr.length < 2000) stderr += d.toString('utf8')
        })
        // sshd may send the exit status before the last of the command's stderr (it drains the
        // pipes after the child exits): report a failed command on 'close', when all of it is in.
        let exitCode: number | null = null
        channel.once('exit', (code: number | null) => (exitCode = code))
        let released = false
        const release = () => {
          if (released) return
          released = true
          if (--channels === 0) client.end()
        }
        channel.once('close', () => {
          // Only while someone listens (the rpc layer does once connected): an unheard 'error' throws.
          if (exitCode && channel.listenerCount('error') > 0)
            channel.emit(
              'error',
              new LibvirtConnectionError(
                scrub(`${description}: remote command exited with ${exitCode}${stderr ? `: ${stderr.trim()}` : ''}`),
                'ssh-command-failed',
              ),
            )
          release()
        })
        onOpen({
          stream: channel,
          description,
          dispose: () => (channel.destroy(), release()),
          openChannel: () => new Promise<OpenedTransport>((ok, no) => exec(no, ok)),
        })
      })
    }
    const runCommand = () => {
      if (settled) return
      exec(fail, t => {
        settled = true
        resolve(t)
      })
    }
    // `on`, not `once`: ssh2 may emit several errors (agent, then auth), and one
    // after the connection is up must not go unhandled and crash the process.
    client.on('error', (err: Error & { level?: string }) => {
      if (err.level === 'agent') {
        // ssh2 goes on with the next method; keep the reason for the final message.
        agentProblem = `the ssh-agent at ${o.agent} failed: ${err.message}`
        return
      }
      if (hostKeyRefusal) return fail(hostKeyRefusal)
      if (err.level === 'client-authentication')
        return fail(new LibvirtConnectionError(authFailure(), 'ssh-auth-failed', { cause: err }))
      fail(new LibvirtConnectionError(scrub(`${description}: ${err.message}`), 'ssh-error', { cause: err }))
    })
    client.once('close', () =>
      fail(new LibvirtConnectionError(`${description}: the SSH connection closed before it was ready`, 'ssh-error')),
    )
    try {
      client.connect(cfg)
    } catch (err) {
      // ssh2 parses the key synchronously: a wrong or missing passphrase lands here.
      const text = err instanceof Error ? err.message : String(err)
      const bad = /^Cannot parse privateKey: /.exec(text)
      fail(
        bad
          ? new LibvirtConnectionError(
              scrub(
                `${description}: cannot use the private key: ${text.slice(bad[0].length)}; check the key and its passphrase`,
              ),
              'ssh-key-invalid',
              { cause: err },
            )
          : new LibvirtConnectionError(scrub(`${description}: ${text}`), 'ssh-error', { cause: err }),
      )
    }
  })
}
