/**
 * The renderer's two plain HTTP calls to a VoidVM server (health and login),
 * made by the main process: the app page's origin (voidvm://app) is
 * cross-origin to every server, and a server need not answer CORS. Only those
 * two endpoints can be reached this way, so the page gains no general
 * network access. In the app, fetchImpl is Electron's net.fetch, which goes
 * through the session's certificate verifier (pinned certificates apply).
 */
import { ENDPOINTS } from '../../shared/protocol.js'
import type { ServerHttpRequest, ServerHttpResponse } from '../../preload/api.js'

export type FetchImpl = (url: string, init: RequestInit) => Promise<Response>

const ALLOWED: Record<string, 'GET' | 'POST'> = { [ENDPOINTS.health]: 'GET', [ENDPOINTS.login]: 'POST' }
export const MAX_RESPONSE_BYTES = 1024 * 1024
export const SERVER_HTTP_TIMEOUT_MS = 15_000

export class ServerHttpError extends Error {
  override name = 'ServerHttpError'
}

/** Checks the request and returns the URL to fetch; throws a ServerHttpError saying what is wrong. */
export function checkServerRequest(req: ServerHttpRequest): URL {
  let u: URL
  try {
    u = new URL(req.url)
  } catch {
    throw new ServerHttpError(`'${req.url}' is not an absolute URL`)
  }
  if (u.protocol === 'ws:' || u.protocol === 'wss:') u.protocol = u.protocol === 'ws:' ? 'http:' : 'https:'
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new ServerHttpError(`${u.protocol} is not http(s)`)
  if (u.username || u.password) throw new ServerHttpError('URLs with embedded credentials are refused')
  const method = ALLOWED[u.pathname]
  if (!method)
    throw new ServerHttpError(`only ${Object.keys(ALLOWED).join(' and ')} can be requested, not ${u.pathname}`)
  if (req.method !== method) throw new ServerHttpError(`${u.pathname} takes ${method}, not ${req.method}`)
  u.hash = ''
  return u
}

export async function serverHttp(fetchImpl: FetchImpl, req: ServerHttpRequest): Promise<ServerHttpResponse> {
  const url = checkServerRequest(req)
  const ctl = new AbortController()
  const timer = setTimeout(() => ctl.abort(), SERVER_HTTP_TIMEOUT_MS)
  try {
    let res: Response
    try {
      res = await fetchImpl(url.toString(), {
        method: req.method,
        redirect: 'error',
        signal: ctl.signal,
        credentials: 'omit',
        ...(req.method === 'POST' ? { headers: { 'content-type': 'application/json' }, body: req.body ?? '' } : {}),
      })
    } catch (err) {
      const why = ctl.signal.aborted ? `no answer within ${SERVER_HTTP_TIMEOUT_MS / 1000} s` : (err as Error).message
      throw new ServerHttpError(`cannot reach ${url.host}: ${why}`)
    }
    const buf = Buffer.from(await res.arrayBuffer())
    if (buf.length > MAX_RESPONSE_BYTES) throw new ServerHttpError(`the answer of ${url.host} is larger than 1 MiB`)
    return { status: res.status, contentType: res.headers.get('content-type') ?? '', body: buf.toString('utf8') }
  } finally {
    clearTimeout(timer)
  }
}
