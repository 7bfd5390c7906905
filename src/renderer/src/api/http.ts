/** HTTP calls made before a socket exists: login and health, with refusal reasons the login form can show. */
import { ENDPOINTS, type HealthResponse, type LoginResponse } from '../../../shared/protocol'
import type { RefusalReason } from './types'

export class LoginError extends Error {
  readonly reason: RefusalReason
  constructor(reason: RefusalReason, message: string) {
    super(message)
    this.name = 'LoginError'
    this.reason = reason
  }
}

type FetchLike = (input: string, init?: RequestInit) => Promise<Response>

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
  return baseUrl.startsWith('https:') ? new LoginError('certificate', detail) : new LoginError('unreachable', detail)
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
  const bodyMsg = (body as { message?: unknown } | null)?.message
  const message = typeof bodyMsg === 'string' && bodyMsg ? bodyMsg : `HTTP ${res.status}`
  if (res.status === 401 || res.status === 403) throw new LoginError('bad-credentials', message)
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
