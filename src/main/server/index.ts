/**
 * The VoidVM server: HTTP (health, the built renderer) and the WebSocket API.
 */
import { createServer, type Server } from 'node:http'
import { readFile } from 'node:fs/promises'
import { dirname, extname, join, normalize, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AddressInfo } from 'node:net'
import { ENDPOINTS, type HealthResponse } from '../../shared/protocol.js'
import { VERSION } from '../../shared/version.js'

export interface ServerOptions {
  host?: string
  port?: number
  /** Folder of the built renderer (index.html and assets). */
  rendererDir?: string
}

export interface RunningServer {
  url: string
  port: number
  close(): Promise<void>
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.json': 'application/json',
  '.woff2': 'font/woff2',
}

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"

function defaultRendererDir(): string {
  // out/main/headless.js → out/renderer
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', 'renderer')
}

export async function startServer(opts: ServerOptions = {}): Promise<RunningServer> {
  const rendererDir = opts.rendererDir ?? defaultRendererDir()
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname === ENDPOINTS.health) {
      const body: HealthResponse = { status: 'ok', version: VERSION, hypervisor: { connected: false, uri: '' } }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body))
      return
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405).end()
      return
    }
    const rel = normalize(decodeURIComponent(url.pathname)).replace(/^([/\\])+/, '')
    const file = join(rendererDir, rel === '' ? 'index.html' : rel)
    if (!file.startsWith(rendererDir + sep) && file !== rendererDir) {
      res.writeHead(404).end()
      return
    }
    readFile(file)
      .catch(() => readFile(join(rendererDir, 'index.html')))
      .then(
        buf => {
          res.writeHead(200, {
            'content-type': MIME[extname(file)] ?? 'text/html; charset=utf-8',
            'content-security-policy': CONTENT_SECURITY_POLICY,
            'x-content-type-options': 'nosniff',
          })
          res.end(req.method === 'HEAD' ? undefined : buf)
        },
        () => res.writeHead(404).end('renderer not built: run npm run build'),
      )
  })
  await new Promise<void>((ok, fail) => {
    server.once('error', fail)
    server.listen(opts.port ?? 3000, opts.host ?? '127.0.0.1', () => ok())
  })
  const { port } = server.address() as AddressInfo
  const host = opts.host ?? '127.0.0.1'
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    close: () => new Promise<void>(ok => server.close(() => ok())),
  }
}
