/** HTTP calls made before a socket exists: login and health, with refusal reasons the login form can show. */
import { ENDPOINTS, type HealthResponse, type LoginResponse } from '../../../shared/protocol'
import type { CertificateInfo, VoidVmApi } from '../../../preload/api'
import type { RefusalReason } from './types'

export class LoginError extends Error {
  readonly reason: RefusalReason
  /** True when no HTTP answer came at all (network, TLS), false for an HTTP status. */
  readonly network: boolean
  constructor(reason: RefusalReason, message: string, network = false) {
    super(message)
    this.name = 'LoginError'
    this.reason = reason
    this.network = network
  }
}

export type FetchLike = (input: string, init?: RequestInit) => Promise<Response>

/** Normalises what a user types ("host:3000", "https://h/") into a base URL. */
export function normaliseServerUrl(input: string): string {
  let s = input.trim()
  if (!/^[a-z]+:\/\//i.test(s)) s = `http://${s}`
  const u = new URL(s)
  if (u.protocol !== 'http:' && u.protocol !== 'https:')
    throw new Error('The server URL must start with http:// or https://')
  return `${u.protocol}//${u.host}`
}

function networkFailure(baseUrl: string, err: unknown): LoginError {
  const detail = err instanceof Error ? err.message : String(err)
  // Browsers hide TLS failures behind a generic network error; over https that is the likely cause.
  return baseUrl.startsWith('https:')
    ? new LoginError('certificate', detail, true)
    : new LoginError('unreachable', detail, true)
}

export async function login(
  baseUrl: string,
  username: string,
  password: string,
  fetchImpl: FetchLike = (i, init) => fetch(i, init),
): Promise<LoginResponse> {
  let res: Response
  try {
    res = await fetchImpl(new URL(ENDPOINTS.login, baseUrl).toString(), {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ username, password }),
    })
  } catch (err) {
    throw networkFailure(baseUrl, err)
  }
  let body: unknown
  try {
    body = await res.json()
  } catch {
    body = null
  }
  if (res.ok) {
    const b = body as Partial<LoginResponse> | null
    if (b && typeof b.token === 'string' && b.user) return b as LoginResponse
    throw new LoginError('server-error', 'The server answered the login without a token.')
  }
  // The server answers { error: { code, message } }; a bare { message } is read too.
  const b = body as { message?: unknown; error?: { message?: unknown } } | null
  const bodyMsg = b?.error?.message ?? b?.message
  const message = typeof bodyMsg === 'string' && bodyMsg ? bodyMsg : `HTTP ${res.status}`
  if (res.status === 401) throw new LoginError('bad-credentials', message)
  // Not the password: the server refuses this page's origin or the name it was reached by.
  if (res.status === 403) throw new LoginError('forbidden', message)
  if (res.status === 429) throw new LoginError('rate-limited', message)
  if (res.status === 404) throw new LoginError('unreachable', 'This address does not run a VoidVM server.')
  throw new LoginError('server-error', message)
}

export async function health(
  baseUrl: string,
  fetchImpl: FetchLike = (i, init) => fetch(i, init),
): Promise<HealthResponse> {
  let res: Response
  try {
    res = await fetchImpl(new URL(ENDPOINTS.health, baseUrl).toString())
  } catch (err) {
    throw networkFailure(baseUrl, err)
  }
  if (!res.ok) throw new LoginError('unreachable', `HTTP ${res.status}`)
  return (await res.json()) as HealthResponse
}

/**
 * The desktop app's fetch for a server's health and login: the page
 * (voidvm://app) is cross-origin to every server and servers send no CORS
 * headers, so the main process makes the request (window.voidvm.serverHttp),
 * through the session's certificate verifier (pinned certificates apply).
 */
export function desktopFetch(api: Pick<VoidVmApi, 'serverHttp'>): FetchLike {
  return async (input, init) => {
    const method = (init?.method ?? 'GET').toUpperCase()
    if (method !== 'GET' && method !== 'POST') throw new TypeError(`${method} is not supported here`)
    const body = typeof init?.body === 'string' ? init.body : undefined
    const r = await api.serverHttp({ url: input, method, ...(body !== undefined ? { body } : {}) })
    return new Response(r.body, { status: r.status, headers: { 'content-type': r.contentType || 'text/plain' } })
  }
}

/** The fetch for login and health: the main process's in the desktop app, the page's own in a browser. */
export function fetchFor(api: Partial<VoidVmApi> | undefined): FetchLike {
  if (api && typeof api.serverHttp === 'function') return desktopFetch(api as Pick<VoidVmApi, 'serverHttp'>)
  return (i, init) => fetch(i, init)
}

export type SignInOutcome =
  | { kind: 'ok'; login: LoginResponse }
  /**
   * The TLS handshake failed and no public CA vouches for the certificate:
   * show it to the user (trust on first use). `changed` when a different
   * fingerprint is pinned for this profile.
   */
  | { kind: 'untrusted-certificate'; certificate: CertificateInfo; changed: boolean }

function sameFingerprint(a: string, b: string): boolean {
  const n = (s: string) => s.replace(/[^0-9a-f]/gi, '').toUpperCase()
  return n(a) === n(b)
}

/**
 * Logs in to a server. In the desktop app the request goes through the main
 * process, and when it gets no answer over https the certificate is read
 * (a bare TLS handshake: nothing is sent) so an untrusted one can be shown
 * for the user to trust; in a browser it is the page's fetch, as before.
 */
export async function signIn(
  baseUrl: string,
  username: string,
  password: string,
  api: Partial<VoidVmApi> | undefined,
  pinnedFingerprint?: string,
): Promise<SignInOutcome> {
  try {
    return { kind: 'ok', login: await login(baseUrl, username, password, fetchFor(api)) }
  } catch (err) {
    if (!(err instanceof LoginError) || !err.network || !baseUrl.startsWith('https:')) throw err
    if (!api || typeof api.probeCertificate !== 'function') throw err
    let cert: CertificateInfo
    try {
      cert = await api.probeCertificate(baseUrl)
    } catch (probeErr) {
      // Not even a TLS handshake: the server is not there (the probe says why).
      throw new LoginError('unreachable', probeErr instanceof Error ? probeErr.message : String(probeErr), true)
    }
    if (cert.caTrusted) throw new LoginError('unreachable', err.message, true)
    // Already pinned and still refused: the certificate is not what failed.
    if (pinnedFingerprint && sameFingerprint(pinnedFingerprint, cert.fingerprint)) throw err
    return { kind: 'untrusted-certificate', certificate: cert, changed: !!pinnedFingerprint }
  }
}
