/**
 * The one place that knows src/main/server's API: maps the app's
 * EmbeddedStartOptions onto startServer() and creates the local admin.
 */
import { randomBytes } from 'node:crypto'
import * as server from '../server/index.js'
import { UserStore } from '../server/users.js'
import type { EmbeddedServer, EmbeddedStartOptions, LocalServerDeps } from './local-server.js'

/** The shape startServer() returns (url, wsUrl, port, close, issueToken). */
type StartedServer = Partial<EmbeddedServer> & {
  url: string
  port: number
  close(): Promise<void>
  issueToken?: (username: string, ttl?: number) => Promise<string | { token: string; expiresAt: string }>
}
type StartFn = (opts: Record<string, unknown>) => Promise<StartedServer>

export async function startEmbeddedServer(o: EmbeddedStartOptions): Promise<EmbeddedServer> {
  const start = server.startServer as unknown as StartFn
  const s = await start({
    host: o.host,
    port: o.port,
    dataDir: o.dataDir,
    ...(o.libvirtUri ? { libvirtUri: o.libvirtUri } : {}),
    ...(o.tls ? { tls: o.tls, tlsCert: o.tls.cert, tlsKey: o.tls.key } : {}),
    ...(o.allowOrigins ? { allowOrigins: o.allowOrigins, allowOrigin: o.allowOrigins } : {}),
  })
  const issue = s.issueToken
  return {
    url: s.url,
    wsUrl: s.wsUrl ?? `${s.url.replace(/^http/, 'ws')}/ws`,
    port: s.port,
    close: () => s.close(),
    async issueToken(username, ttl) {
      if (!issue) throw new Error('this server build cannot issue tokens')
      const r = await issue.call(s, username, ttl)
      if (typeof r === 'string')
        return { token: r, expiresAt: new Date(Date.now() + (ttl ?? 43200) * 1000).toISOString() }
      return r
    },
  }
}

/**
 * The local admin gets a long random password nobody knows: the desktop user
 * is authenticated by owning the app's process, never by a password, and the
 * account cannot be logged into over the network.
 */
export async function ensureLocalAdmin(dataDir: string, username: string): Promise<void> {
  const users = await UserStore.open(dataDir)
  if (users.get(username)) return
  await users.add(username, 'admin', randomBytes(32).toString('base64url'), ['*'])
}

export const serverDeps: LocalServerDeps = { startServer: startEmbeddedServer, ensureLocalAdmin }
