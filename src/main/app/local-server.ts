/**
 * The embedded VoidVM server as the desktop app runs it: one loopback
 * instance for this window (its local admin needs no password: the main
 * process mints tokens and hands them over IPC), and optionally a second,
 * TLS-only listener that serves this machine to other VoidVM clients. The
 * server itself is injected, so this runs (and is tested) under plain Node.
 */
import { readFile } from 'node:fs/promises'
import { X509Certificate, createPrivateKey } from 'node:crypto'
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os'
import type { LocalServerInfo, SharingState } from '../../preload/api.js'
import { listenWithFallback } from './ports.js'
import type { SharingSettings } from './settings.js'

/** What the app needs from src/main/server's startServer(). */
export interface EmbeddedServer {
  url: string
  wsUrl: string
  port: number
  close(): Promise<void>
  issueToken(username: string, ttlSeconds?: number): Promise<{ token: string; expiresAt: string }>
}

export interface EmbeddedStartOptions {
  host: string
  port: number
  dataDir: string
  libvirtUri?: string
  /** PEM text of the certificate chain and key; both or neither. */
  tls?: { cert: string; key: string }
  /** Browser origins allowed to open the WebSocket besides the server's own (the app's voidvm:// page). */
  allowOrigins?: string[]
}

export interface LocalServerDeps {
  startServer(opts: EmbeddedStartOptions): Promise<EmbeddedServer>
  /** Makes sure the passwordless local admin exists in dataDir's user store. */
  ensureLocalAdmin(dataDir: string, username: string): Promise<void>
  log?: (msg: string) => void
}

export interface LocalServerOptions {
  dataDir: string
  port: number
  libvirtUri?: string
  allowOrigins?: string[]
  /** Local admin's name in the user store. */
  username?: string
  /** Lifetime of handed-over tokens; the renderer asks again when one runs out. */
  tokenTtlSeconds?: number
}

export const LOCAL_ADMIN = 'local-admin'
export const LOCAL_TOKEN_TTL_SECONDS = 12 * 3600

export class SharingError extends Error {
  override name = 'SharingError'
}

/** Checks a certificate/key pair before the server is bound with it; errors say what to fix. */
export async function loadTlsPair(certPath: string | undefined, keyPath: string | undefined) {
  if (!certPath || !keyPath) {
    throw new SharingError('serving other clients needs TLS: choose a certificate (PEM) and its private key')
  }
  let cert: string
  let key: string
  try {
    cert = await readFile(certPath, 'utf8')
  } catch (err) {
    throw new SharingError(`cannot read the certificate ${certPath}: ${(err as Error).message}`)
  }
  try {
    key = await readFile(keyPath, 'utf8')
  } catch (err) {
    throw new SharingError(`cannot read the private key ${keyPath}: ${(err as Error).message}`)
  }
  let x509: X509Certificate
  try {
    x509 = new X509Certificate(cert)
  } catch {
    throw new SharingError(`${certPath} is not a PEM certificate`)
  }
  let keyObj
  try {
    keyObj = createPrivateKey(key)
  } catch {
    throw new SharingError(`${keyPath} is not a PEM private key (an encrypted key is not supported)`)
  }
  if (!x509.checkPrivateKey(keyObj)) throw new SharingError(`the key ${keyPath} does not belong to ${certPath}`)
  const now = Date.now()
  if (Date.parse(x509.validTo) < now) throw new SharingError(`the certificate expired on ${x509.validTo}`)
  if (Date.parse(x509.validFrom) > now) throw new SharingError(`the certificate is not valid before ${x509.validFrom}`)
  return { cert, key, fingerprint: x509.fingerprint256 }
}

/**
 * The https:// addresses other machines may use: every non-internal address
 * of the bound interfaces (all of them for a wildcard bind).
 */
export function sharingUrls(
  host: string,
  port: number,
  ifaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces(),
): string[] {
  const fmt = (a: string) => (a.includes(':') ? `https://[${a}]:${port}` : `https://${a}:${port}`)
  if (host !== '0.0.0.0' && host !== '::') return [fmt(host)]
  const out: string[] = []
  for (const list of Object.values(ifaces)) {
    for (const i of list ?? []) {
      if (i.internal) continue
      if (host === '0.0.0.0' && i.family !== 'IPv4') continue
      // Link-local IPv6 needs a zone id no URL can carry.
      if (i.family === 'IPv6' && i.address.toLowerCase().startsWith('fe80:')) continue
      out.push(fmt(i.address))
    }
  }
  return out.sort((a, b) => Number(a.includes('[')) - Number(b.includes('[')) || a.localeCompare(b))
}

export class LocalServer {
  private local: EmbeddedServer | null = null
  private shared: EmbeddedServer | null = null
  private sharing: SharingState = { enabled: false, host: '0.0.0.0', port: 0, urls: [] }
  private closed = false
  readonly username: string

  constructor(
    private readonly deps: LocalServerDeps,
    private readonly opts: LocalServerOptions,
  ) {
    this.username = opts.username ?? LOCAL_ADMIN
  }

  /** Starts the loopback server on the configured port, or an ephemeral one if it is taken. */
  async start(): Promise<{ url: string; port: number; fellBack: boolean }> {
    if (this.local) return { url: this.local.url, port: this.local.port, fellBack: false }
    await this.deps.ensureLocalAdmin(this.opts.dataDir, this.username)
    const { value, fellBack } = await listenWithFallback(this.opts.port, port =>
      this.deps.startServer({
        host: '127.0.0.1',
        port,
        dataDir: this.opts.dataDir,
        ...(this.opts.libvirtUri ? { libvirtUri: this.opts.libvirtUri } : {}),
        ...(this.opts.allowOrigins ? { allowOrigins: this.opts.allowOrigins } : {}),
      }),
    )
    if (fellBack) this.deps.log?.(`port ${this.opts.port} is in use; the local server took ${value.port}`)
    this.local = value
    return { url: value.url, port: value.port, fellBack }
  }

  /** What the renderer gets over IPC: the loopback URLs and a fresh token for the local admin. */
  async handOver(): Promise<LocalServerInfo | null> {
    if (!this.local || this.closed) return null
    const { token, expiresAt } = await this.local.issueToken(
      this.username,
      this.opts.tokenTtlSeconds ?? LOCAL_TOKEN_TTL_SECONDS,
    )
    return { url: this.local.url, wsUrl: this.local.wsUrl, token, username: this.username, expiresAt }
  }

  getSharing(): SharingState {
    return structuredClone(this.sharing)
  }

  /**
   * Applies the sharing setting: stops the old TLS listener and, if enabled,
   * starts one on host:port with the given certificate. A failure leaves
   * sharing off with the reason in `error` (and rethrows only for bad input).
   */
  async applySharing(s: SharingSettings): Promise<SharingState> {
    if (this.shared) {
      const old = this.shared
      this.shared = null
      await old.close()
    }
    const base: SharingState = {
      enabled: s.enabled,
      host: s.host,
      port: s.port,
      ...(s.tlsCertPath ? { tlsCertPath: s.tlsCertPath } : {}),
      ...(s.tlsKeyPath ? { tlsKeyPath: s.tlsKeyPath } : {}),
      urls: [],
    }
    if (!s.enabled || this.closed) return (this.sharing = base)
    try {
      const tls = await loadTlsPair(s.tlsCertPath, s.tlsKeyPath)
      this.shared = await this.deps.startServer({
        host: s.host,
        port: s.port,
        dataDir: this.opts.dataDir,
        ...(this.opts.libvirtUri ? { libvirtUri: this.opts.libvirtUri } : {}),
        // Other desktop clients connect from their own voidvm://app page, as this window does to the loopback one.
        ...(this.opts.allowOrigins ? { allowOrigins: this.opts.allowOrigins } : {}),
        tls: { cert: tls.cert, key: tls.key },
      })
      this.sharing = {
        ...base,
        port: this.shared.port,
        urls: sharingUrls(s.host, this.shared.port),
        fingerprint: tls.fingerprint,
      }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      const error =
        code === 'EADDRINUSE'
          ? `port ${s.port} on ${s.host} is already in use: choose another port`
          : code === 'EADDRNOTAVAIL'
            ? `${s.host} is not an address of this machine`
            : (err as Error).message
      this.sharing = { ...base, error }
    }
    return this.getSharing()
  }

  /** Closes both listeners (and with them every session); safe to call twice. */
  async close(): Promise<void> {
    this.closed = true
    const servers = [this.shared, this.local].filter((s): s is EmbeddedServer => s !== null)
    this.shared = null
    this.local = null
    this.sharing = { ...this.sharing, urls: [] }
    await Promise.allSettled(servers.map(s => s.close()))
  }
}
