/**
 * The one place that knows src/main/server's API: maps the app's
 * EmbeddedStartOptions onto startServer() and creates the local admin.
 */
import { randomBytes } from 'node:crypto'
import { startServer, UserStore, DEFAULT_TOKEN_TTL_SECONDS, type Logger } from '../server/index.js'
import type { EmbeddedServer, EmbeddedStartOptions, LocalServerDeps } from './local-server.js'

export async function startEmbeddedServer(o: EmbeddedStartOptions, log?: Logger): Promise<EmbeddedServer> {
  const s = await startServer({
    host: o.host,
    port: o.port,
    dataDir: o.dataDir,
    ...(o.libvirtUri ? { libvirtUri: o.libvirtUri } : {}),
    ...(o.tls ? { tls: o.tls } : {}),
    ...(o.allowOrigins ? { allowOrigins: o.allowOrigins } : {}),
    ...(log ? { log } : {}),
  })
  return {
    url: s.url,
    wsUrl: s.wsUrl,
    port: s.port,
    close: () => s.close(),
    async issueToken(username, ttl) {
      const seconds = ttl ?? DEFAULT_TOKEN_TTL_SECONDS
      const token = await s.issueToken(username, seconds)
      // The expiry is what the server encoded (issued now + ttl), rounded down to the second.
      return { token, expiresAt: new Date(Math.floor(Date.now() / 1000) * 1000 + seconds * 1000).toISOString() }
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

export const serverDeps: LocalServerDeps = { startServer: o => startEmbeddedServer(o), ensureLocalAdmin }
