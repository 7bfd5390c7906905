/**
 * The HTTP side: health, login and the built renderer (with a strict CSP).
 */
import type { IncomingMessage, ServerResponse } from 'node:http'
import { readFile, stat } from 'node:fs/promises'
import { extname, join, normalize, sep } from 'node:path'
import { z } from 'zod'
import { ENDPOINTS, type HealthResponse, type LoginResponse } from '../../shared/protocol.js'
import type { ErrorCode } from '../../shared/errors.js'
import { VERSION } from '../../shared/version.js'

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
}

export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; connect-src 'self' ws: wss:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
}

export function sendJson(
  res: ServerResponse,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): void {
  const text = JSON.stringify(body)
  res.writeHead(status, {
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    'content-length': Buffer.byteLength(text),
    ...SECURITY_HEADERS,
    ...headers,
  })
  res.end(text)
}

/** HTTP error bodies: `{"error":{"code","message","field?"}}`. */
export function sendError(
  res: ServerResponse,
  status: number,
  code: ErrorCode,
  message: string,
  extra: { field?: string; headers?: Record<string, string> } = {},
): void {
  sendJson(res, status, { error: { code, message, ...(extra.field ? { field: extra.field } : {}) } }, extra.headers)
}

const loginBody = z.object({
  username: z.string().min(1, 'username is required').max(64),
  password: z.string().min(1, 'password is required').max(1024),
})

export type LoginOutcome =
  | { ok: true; body: LoginResponse }
  | { ok: false; status: number; code: ErrorCode; message: string; retryAfterMs?: number }

export interface HttpDeps {
  rendererDir: string | undefined
  health(): HealthResponse['hypervisor']
  login(username: string, password: string, address: string): Promise<LoginOutcome>
  /** Origin allowed for state-changing requests (absent Origin = non-browser client). */
  originAllowed(req: IncomingMessage): boolean
  /** Host header acceptable (DNS-rebinding guard for loopback binds). */
  hostAllowed(req: IncomingMessage): boolean
  onError(err: unknown): void
}

const MAX_LOGIN_BODY = 16 * 1024

function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  return new Promise((ok, fail) => {
    const chunks: Buffer[] = []
    let size = 0
    req.on('data', (c: Buffer) => {
      size += c.length
      if (size > limit) {
        ok(undefined)
        req.resume()
        return
      }
      chunks.push(c)
    })
    req.on('end', () => ok(size > limit ? undefined : Buffer.concat(chunks).toString('utf8')))
    req.on('error', fail)
  })
}

export function remoteAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown'
}

export function createHttpHandler(deps: HttpDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    if (!deps.hostAllowed(req))
      return sendError(res, 403, 'FORBIDDEN', 'this server answers only to its loopback names (Host not allowed)')
    const url = new URL(req.url ?? '/', 'http://localhost')
    if (url.pathname === ENDPOINTS.health) {
      if (req.method !== 'GET' && req.method !== 'HEAD')
        return sendError(res, 405, 'INVALID_MESSAGE', 'use GET', { headers: { allow: 'GET, HEAD' } })
      const body: HealthResponse = { status: 'ok', version: VERSION, hypervisor: deps.health() }
      return sendJson(res, 200, body)
    }
    if (url.pathname === ENDPOINTS.login) {
      if (req.method !== 'POST')
        return sendError(res, 405, 'INVALID_MESSAGE', 'use POST', { headers: { allow: 'POST' } })
      if (!deps.originAllowed(req))
        return sendError(res, 403, 'FORBIDDEN', 'cross-site login requests are refused (Origin not allowed)')
      const type = req.headers['content-type'] ?? ''
      if (!/^application\/json\b/i.test(type))
        return sendError(res, 415, 'INVALID_MESSAGE', 'send the credentials as application/json', {
          field: 'content-type',
        })
      const text = await readBody(req, MAX_LOGIN_BODY)
      if (text === undefined) return sendError(res, 413, 'INVALID_MESSAGE', 'request body too large (max 16 KiB)')
      let json: unknown
      try {
        json = JSON.parse(text)
      } catch {
        return sendError(res, 400, 'INVALID_MESSAGE', 'the request body is not valid JSON')
      }
      const parsed = loginBody.safeParse(json)
      if (!parsed.success) {
        const issue = parsed.error.issues[0]
        const field = issue?.path.join('.') || undefined
        return sendError(res, 400, 'INVALID_MESSAGE', `${field ?? 'body'}: ${issue?.message ?? 'invalid'}`, { field })
      }
      const out = await deps.login(parsed.data.username, parsed.data.password, remoteAddress(req))
      if (out.ok) return sendJson(res, 200, out.body)
      return sendError(res, out.status, out.code, out.message, {
        headers: out.retryAfterMs ? { 'retry-after': String(Math.ceil(out.retryAfterMs / 1000)) } : {},
      })
    }
    if (url.pathname.startsWith('/api/'))
      return sendError(res, 404, 'UNKNOWN_TYPE', `no such endpoint: ${req.method} ${url.pathname}`)
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', ...SECURITY_HEADERS }).end()
      return
    }
    return serveStatic(req, res, url.pathname, deps.rendererDir)
  }
  return (req, res) => {
    handle(req, res).catch(err => {
      deps.onError(err)
      if (!res.headersSent) sendError(res, 500, 'INTERNAL_ERROR', 'internal error; see the server log')
      else res.destroy()
    })
  }
}

async function serveStatic(
  req: IncomingMessage,
  res: ServerResponse,
  pathname: string,
  rendererDir: string | undefined,
): Promise<void> {
  if (!rendererDir) {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS })
    res.end('The web UI is not built: run npm run build.\n')
    return
  }
  let rel: string
  try {
    rel = normalize(decodeURIComponent(pathname)).replace(/^([/\\])+/, '')
  } catch {
    res.writeHead(400, SECURITY_HEADERS).end()
    return
  }
  let file = join(rendererDir, rel === '' ? 'index.html' : rel)
  if (!file.startsWith(rendererDir + sep) && file !== rendererDir) {
    res.writeHead(404, SECURITY_HEADERS).end()
    return
  }
  const isFile = await stat(file).then(
    s => s.isFile(),
    () => false,
  )
  // Unknown paths without an extension are client-side routes: serve the app.
  if (!isFile) {
    if (extname(file) !== '') {
      res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS }).end('not found\n')
      return
    }
    file = join(rendererDir, 'index.html')
  }
  let buf: Buffer
  try {
    buf = await readFile(file)
  } catch {
    res.writeHead(404, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS })
    res.end('The web UI is not built: run npm run build.\n')
    return
  }
  const isHtml = extname(file) === '.html'
  res.writeHead(200, {
    'content-type': MIME[extname(file)] ?? 'application/octet-stream',
    'content-length': buf.length,
    'content-security-policy': CONTENT_SECURITY_POLICY,
    // Hashed asset names can be cached; the HTML must be revalidated to pick up new builds.
    'cache-control': isHtml
      ? 'no-cache'
      : rel.startsWith('assets/')
        ? 'public, max-age=31536000, immutable'
        : 'no-cache',
    ...SECURITY_HEADERS,
  })
  res.end(req.method === 'HEAD' ? undefined : buf)
}
