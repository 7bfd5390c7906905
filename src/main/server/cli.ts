/**
 * Argument parsing and dispatch for `voidvm-server`. Every option also reads
 * an environment variable (VOIDVM_PORT, VOIDVM_DATA_DIR, …); a command-line
 * option wins over its variable.
 */
import { parseArgs } from 'node:util'
import { parseUri } from '../libvirt/index.js'
import { ROLES } from '../../shared/protocol.js'
import { VERSION } from '../../shared/version.js'
import { AuditLog, DEFAULT_AUDIT_KEEP, DEFAULT_AUDIT_MAX_BYTES, parseSize, type AuditLogOptions } from './audit.js'
import { parseTtl, TokenService, DEFAULT_TOKEN_TTL_SECONDS } from './auth.js'
import { DEFAULT_LIBVIRT_URI } from './bridges.js'
import { defaultDataDir } from './datadir.js'
import { DEFAULT_LIMITS } from './limits.js'
import { startServer } from './index.js'
import type { LogLevel } from './log.js'
import { UserStore, UserStoreError } from './users.js'

export const USAGE = `Usage: voidvm-server <command> [options]

Commands:
  serve                       Run the VoidVM server (HTTP + WebSocket API + web UI)
    --host HOST               Address to bind (default 127.0.0.1; VOIDVM_HOST)
    --port PORT               Port (default 3000, 0 = any free port; VOIDVM_PORT)
    --data-dir DIR            Users, secrets, audit log (VOIDVM_DATA_DIR)
    --libvirt-uri URI         libvirt connection (default qemu:///system; VOIDVM_LIBVIRT_URI)
    --tls-cert F --tls-key F  Serve HTTPS/WSS (VOIDVM_TLS_CERT, VOIDVM_TLS_KEY)
    --locale en|zh-CN         Language of event messages (VOIDVM_LOCALE)
    --allow-origin URL        Extra browser origin allowed to connect (repeatable;
                              VOIDVM_ALLOW_ORIGIN, comma-separated)
    --max-connections-per-address N
                              Open WebSocket connections per client address,
                              loopback included (default ${DEFAULT_LIMITS.maxConnectionsPerAddress}; 0 = no cap;
                              VOIDVM_MAX_CONNECTIONS_PER_ADDRESS)
    --log-level LEVEL         debug, info (default), warn, error or silent; logs go
                              to stderr (VOIDVM_LOG_LEVEL)
  user add NAME --role admin|operator|viewer [--password-stdin]
                              Add a user (VOIDVM_ROLE; an admin may reach all VMs,
                              other roles none until 'user grant')
  user remove NAME            Remove a user and revoke their tokens
  user passwd NAME [--password-stdin]
                              Set a new password and revoke the user's tokens
  user list                   List users, roles and grants
  user grant NAME VM-PATTERN  Let NAME reach VMs matching the glob ('*' = all)
  token NAME [--ttl 12h]      Print a JWT for NAME on stdout (VOIDVM_TTL)

Every command takes --data-dir DIR (default: ${defaultDataDir()}) and the audit
log options --audit-log-max-size SIZE (rotate audit.log before it grows past
SIZE, e.g. 10M; default ${DEFAULT_AUDIT_MAX_BYTES / 1024 / 1024}M; VOIDVM_AUDIT_LOG_MAX_SIZE) and --audit-log-keep N
(rotated files kept, audit.log.1 … .N; default ${DEFAULT_AUDIT_KEEP}; VOIDVM_AUDIT_LOG_KEEP).
Without --password-stdin (VOIDVM_PASSWORD_STDIN=1) the password is asked on the terminal.
`

const OPTIONS = {
  host: { type: 'string', env: 'VOIDVM_HOST' },
  port: { type: 'string', env: 'VOIDVM_PORT' },
  'data-dir': { type: 'string', env: 'VOIDVM_DATA_DIR' },
  'libvirt-uri': { type: 'string', env: 'VOIDVM_LIBVIRT_URI' },
  'tls-cert': { type: 'string', env: 'VOIDVM_TLS_CERT' },
  'tls-key': { type: 'string', env: 'VOIDVM_TLS_KEY' },
  locale: { type: 'string', env: 'VOIDVM_LOCALE' },
  'allow-origin': { type: 'string', multiple: true, env: 'VOIDVM_ALLOW_ORIGIN' },
  'max-connections-per-address': { type: 'string', env: 'VOIDVM_MAX_CONNECTIONS_PER_ADDRESS' },
  'audit-log-max-size': { type: 'string', env: 'VOIDVM_AUDIT_LOG_MAX_SIZE' },
  'audit-log-keep': { type: 'string', env: 'VOIDVM_AUDIT_LOG_KEEP' },
  role: { type: 'string', env: 'VOIDVM_ROLE' },
  'password-stdin': { type: 'boolean', env: 'VOIDVM_PASSWORD_STDIN' },
  ttl: { type: 'string', env: 'VOIDVM_TTL' },
  'log-level': { type: 'string', env: 'VOIDVM_LOG_LEVEL' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const

type OptionName = keyof typeof OPTIONS

interface Parsed {
  positionals: string[]
  get(name: OptionName): string | undefined
  list(name: OptionName): string[]
  flag(name: OptionName): boolean
}

class UsageError extends Error {
  /** `brief`: the message alone is clear, the full usage text would bury it. */
  constructor(
    message: string,
    readonly brief = false,
  ) {
    super(message)
  }
}

function parse(argv: string[], env: NodeJS.ProcessEnv): Parsed {
  let res
  try {
    res = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: Object.fromEntries(
        Object.entries(OPTIONS).map(([k, v]) => [
          k,
          { type: v.type, ...('multiple' in v ? { multiple: true } : {}), ...('short' in v ? { short: v.short } : {}) },
        ]),
      ),
    })
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  const values = res.values as Record<string, string | string[] | boolean | undefined>
  const envOf = (name: OptionName) => {
    const o = OPTIONS[name]
    return 'env' in o ? env[o.env] : undefined
  }
  return {
    positionals: res.positionals,
    get(name) {
      const v = values[name]
      if (typeof v === 'string') return v
      const e = envOf(name)
      return e === undefined || e === '' ? undefined : e
    },
    list(name) {
      const v = values[name]
      if (Array.isArray(v)) return v
      const e = envOf(name)
      return e ? e.split(/[\s,]+/).filter(Boolean) : []
    },
    flag(name) {
      if (values[name] === true) return true
      const e = envOf(name)
      return e !== undefined && /^(1|true|yes)$/i.test(e)
    },
  }
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = []
  for await (const c of process.stdin) chunks.push(c as Buffer)
  return Buffer.concat(chunks).toString('utf8')
}

function promptHidden(question: string): Promise<string> {
  const stdin = process.stdin
  return new Promise((ok, fail) => {
    let buf = ''
    process.stderr.write(question)
    stdin.setRawMode(true)
    stdin.setEncoding('utf8')
    stdin.resume()
    const done = () => {
      stdin.setRawMode(false)
      stdin.pause()
      stdin.off('data', onData)
      process.stderr.write('\n')
    }
    const onData = (s: string) => {
      for (const ch of s) {
        if (ch === '\r' || ch === '\n') {
          done()
          return ok(buf)
        }
        if (ch === '\u0003' || ch === '\u0004') {
          done()
          return fail(new Error('cancelled'))
        }
        if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1)
        else buf += ch
      }
    }
    stdin.on('data', onData)
  })
}

async function readPassword(args: Parsed): Promise<string> {
  if (args.flag('password-stdin')) {
    // One password per run: the first line, without its line break.
    return (await readStdin()).split(/\r?\n/)[0] ?? ''
  }
  if (!process.stdin.isTTY)
    throw new UserStoreError('no terminal to ask for the password: pipe it in with --password-stdin')
  const a = await promptHidden('Password: ')
  const b = await promptHidden('Repeat password: ')
  if (a !== b) throw new UserStoreError('the passwords do not match')
  return a
}

function need(args: Parsed, index: number, what: string): string {
  const v = args.positionals[index]
  if (!v) throw new UsageError(`missing ${what}`)
  return v
}

/** The audit log options shared by every command that writes the log. */
function auditOptions(args: Parsed): Pick<AuditLogOptions, 'maxBytes' | 'keep'> {
  const out: Pick<AuditLogOptions, 'maxBytes' | 'keep'> = {}
  const size = args.get('audit-log-max-size')
  if (size !== undefined) {
    let n: number
    try {
      n = parseSize(size)
    } catch (err) {
      throw new UsageError(`--audit-log-max-size: ${(err as Error).message}`)
    }
    if (n < 1024) throw new UsageError(`invalid --audit-log-max-size '${size}': use at least 1K`)
    out.maxBytes = n
  }
  const keep = args.get('audit-log-keep')
  if (keep !== undefined) {
    if (!/^\d+$/.test(keep) || Number(keep) < 1 || Number(keep) > 1000)
      throw new UsageError(`invalid --audit-log-keep '${keep}': use a whole number from 1 to 1000`)
    out.keep = Number(keep)
  }
  return out
}

function noExtra(args: Parsed, count: number): void {
  if (args.positionals.length > count) throw new UsageError(`unexpected argument '${args.positionals[count] ?? ''}'`)
}

async function serve(args: Parsed, dataDir: string): Promise<undefined> {
  const portText = args.get('port') ?? '3000'
  const port = Number(portText)
  if (!/^\d+$/.test(portText) || port > 65535) throw new UsageError(`invalid port '${portText}': use 0-65535`)
  const locale = args.get('locale') ?? 'en'
  if (locale !== 'en' && locale !== 'zh-CN') throw new UsageError(`invalid locale '${locale}': use en or zh-CN`)
  const cert = args.get('tls-cert')
  const key = args.get('tls-key')
  if (!!cert !== !!key) throw new UsageError('--tls-cert and --tls-key go together')
  const logLevel = (args.get('log-level') ?? 'info') as LogLevel
  if (!['debug', 'info', 'warn', 'error', 'silent'].includes(logLevel))
    throw new UsageError(`invalid log level '${logLevel}': use debug, info, warn, error or silent`)
  for (const o of args.list('allow-origin')) {
    if (!/^[a-z][a-z0-9+.-]*:\/\//i.test(o))
      throw new UsageError(`invalid --allow-origin '${o}': use e.g. https://host:port`)
  }
  const capText = args.get('max-connections-per-address')
  let maxConnectionsPerAddress: number | undefined
  if (capText !== undefined) {
    if (!/^\d+$/.test(capText) || Number(capText) > 1_000_000)
      throw new UsageError(
        `invalid --max-connections-per-address '${capText}': use a whole number (0 = no cap, at most 1000000)`,
      )
    maxConnectionsPerAddress = Number(capText)
  }
  const auditLog = auditOptions(args)
  const libvirtUri = args.get('libvirt-uri') ?? DEFAULT_LIBVIRT_URI
  try {
    // A URI that can never work stops the start, instead of a server retrying it forever.
    parseUri(libvirtUri)
  } catch (err) {
    // parseUri's messages show the URI with any password replaced by ***.
    throw new UsageError(`invalid --libvirt-uri (VOIDVM_LIBVIRT_URI): ${(err as Error).message}`, true)
  }
  const host = args.get('host') ?? '127.0.0.1'
  const server = await startServer({
    host,
    port,
    dataDir,
    libvirtUri,
    tls: cert && key ? { cert, key } : undefined,
    locale,
    allowOrigins: args.list('allow-origin'),
    logLevel,
    limits: maxConnectionsPerAddress === undefined ? undefined : { maxConnectionsPerAddress },
    auditLog,
  })
  process.stdout.write(`VoidVM server listening on ${server.url}\n`)
  if (server.users.list().length === 0)
    process.stderr.write(
      `No users yet: create one with 'voidvm-server user add NAME --role admin --data-dir ${dataDir}'.\n`,
    )
  if (!cert && host !== '127.0.0.1' && host !== 'localhost' && host !== '::1')
    process.stderr.write(`Warning: listening on ${host} without TLS; tokens and consoles travel in clear text.\n`)
  const stop = () => {
    void server.close().then(
      () => process.exit(0),
      () => process.exit(1),
    )
  }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  return undefined
}

async function user(args: Parsed, dataDir: string): Promise<number> {
  const sub = need(args, 1, 'user subcommand (add, remove, passwd, list or grant)')
  const auditOpts = auditOptions(args)
  const store = await UserStore.open(dataDir)
  const audit = AuditLog.forDataDir(dataDir, {
    ...auditOpts,
    onError: err => process.stderr.write(`voidvm-server: cannot write the audit log: ${String(err)}\n`),
  })
  try {
    switch (sub) {
      case 'add': {
        const name = need(args, 2, 'user NAME')
        noExtra(args, 3)
        const role = args.get('role')
        if (!role) throw new UsageError(`missing --role (${ROLES.join('|')})`)
        // Check the role before asking for a password nobody will use.
        if (!(ROLES as readonly string[]).includes(role))
          throw new UsageError(`invalid role '${role}': use one of ${ROLES.join(', ')}`)
        const u = await store.add(name, role, await readPassword(args))
        audit.write({ username: 'cli', action: 'user-add', result: 'ok', detail: `${u.username} as ${u.role}` })
        process.stderr.write(`Added ${u.role} '${u.username}' (grants: ${u.grants.join(', ') || 'none'}).\n`)
        return 0
      }
      case 'remove': {
        const name = need(args, 2, 'user NAME')
        noExtra(args, 3)
        await store.remove(name)
        audit.write({ username: 'cli', action: 'user-remove', result: 'ok', detail: name })
        process.stderr.write(`Removed '${name}'; their tokens no longer work.\n`)
        return 0
      }
      case 'passwd': {
        const name = need(args, 2, 'user NAME')
        noExtra(args, 3)
        if (!store.get(name)) throw new UserStoreError(`no user named '${name}'`)
        await store.setPassword(name, await readPassword(args))
        audit.write({ username: 'cli', action: 'user-passwd', result: 'ok', detail: name })
        process.stderr.write(`Password of '${name}' changed; their older tokens no longer work.\n`)
        return 0
      }
      case 'list': {
        noExtra(args, 2)
        const rows = store.list()
        if (rows.length === 0) {
          process.stderr.write('No users.\n')
          return 0
        }
        const w = Math.max(4, ...rows.map(r => r.username.length))
        process.stdout.write(`${'NAME'.padEnd(w)}  ROLE      GRANTS\n`)
        for (const r of rows)
          process.stdout.write(`${r.username.padEnd(w)}  ${r.role.padEnd(8)}  ${r.grants.join(', ') || '-'}\n`)
        return 0
      }
      case 'grant': {
        const name = need(args, 2, 'user NAME')
        const pattern = need(args, 3, 'VM-PATTERN')
        noExtra(args, 4)
        const u = await store.grant(name, pattern)
        audit.write({ username: 'cli', action: 'user-grant', result: 'ok', detail: `${name} ${pattern}` })
        process.stderr.write(`'${name}' may now reach VMs matching: ${u.grants.join(', ')}\n`)
        return 0
      }
      default:
        throw new UsageError(`unknown user subcommand '${sub}'`)
    }
  } finally {
    await audit.close()
  }
}

async function token(args: Parsed, dataDir: string): Promise<number> {
  const name = need(args, 1, 'user NAME')
  noExtra(args, 2)
  const ttlText = args.get('ttl')
  const ttl = ttlText ? parseTtl(ttlText) : DEFAULT_TOKEN_TTL_SECONDS
  const store = await UserStore.open(dataDir)
  const u = store.get(name)
  if (!u) throw new UserStoreError(`no user named '${name}'`)
  const tokens = await TokenService.create(dataDir, store)
  const t = await tokens.issue(u, ttl)
  process.stdout.write(t.token + '\n')
  process.stderr.write(`Token for '${name}' expires at ${t.expiresAt}.\n`)
  return 0
}

/** Runs one command; returns the exit code, or undefined while `serve` keeps running. */
export async function runCli(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number | undefined> {
  let args: Parsed
  try {
    args = parse(argv, env)
    const [command] = args.positionals
    if (args.flag('version')) {
      process.stdout.write(`${VERSION}\n`)
      return 0
    }
    if (!command || command === 'help' || args.flag('help')) {
      process.stdout.write(USAGE)
      return command || args.flag('help') ? 0 : 1
    }
    const dataDir = args.get('data-dir') ?? defaultDataDir(env)
    switch (command) {
      case 'serve':
        noExtra(args, 1)
        return await serve(args, dataDir)
      case 'user':
        return await user(args, dataDir)
      case 'token':
        return await token(args, dataDir)
      default:
        throw new UsageError(`unknown command '${command}'`)
    }
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`voidvm-server: ${err.message}\n${err.brief ? '' : `\n${USAGE}`}`)
      return 2
    }
    if (err instanceof UserStoreError || (err instanceof Error && /^invalid TTL/.test(err.message))) {
      process.stderr.write(`voidvm-server: ${err.message}\n`)
      return 1
    }
    throw err
  }
}
