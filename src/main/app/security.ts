/**
 * Security policy of the desktop shell as plain functions, so it is tested
 * under Node: the renderer's origin and CSP, which URLs may leave the app for
 * the OS browser, how app:// requests map to files, and the trust-on-first-use
 * decision for remote servers' certificates.
 */
import { extname, normalize, resolve, sep } from 'node:path'

/** The privileged custom scheme the renderer is served from (never a remote URL). */
export const APP_SCHEME = 'voidvm'
export const APP_HOST = 'app'
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`
export const APP_ENTRY_URL = `${APP_ORIGIN}/index.html`

/**
 * CSP of the Electron window. Scripts only from the app itself; connections to
 * the loopback server over plain HTTP/WS, and to remote servers only over TLS.
 */
export const RENDERER_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  // React and noVNC set inline style attributes; no inline scripts are allowed.
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self' data:",
  "connect-src 'self' http://127.0.0.1:* ws://127.0.0.1:* http://[::1]:* ws://[::1]:* https: wss:",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-src 'none'",
  "frame-ancestors 'none'",
].join('; ')

/** True when a URL belongs to the app's own origin (the renderer's pages). */
export function isAppUrl(raw: string): boolean {
  try {
    const u = new URL(raw)
    return u.protocol === `${APP_SCHEME}:` && u.host === APP_HOST
  } catch {
    return false
  }
}

export type ExternalUrlCheck = { ok: true; url: string } | { ok: false; reason: string }

const EXTERNAL_PROTOCOLS = new Set(['https:', 'http:', 'mailto:'])

/**
 * Decides whether a link may be handed to the OS browser. Only web and mail
 * links: file:, javascript:, custom handlers and embedded credentials could
 * run local programs or leak secrets.
 */
export function checkExternalUrl(raw: unknown): ExternalUrlCheck {
  if (typeof raw !== 'string' || raw.length === 0) return { ok: false, reason: 'the URL must be a non-empty string' }
  if (raw.length > 2048) return { ok: false, reason: 'the URL is longer than 2048 characters' }
  let u: URL
  try {
    u = new URL(raw)
  } catch {
    return { ok: false, reason: `'${raw.slice(0, 80)}' is not an absolute URL` }
  }
  if (!EXTERNAL_PROTOCOLS.has(u.protocol)) {
    return { ok: false, reason: `the scheme '${u.protocol}' is not allowed (only https:, http: and mailto:)` }
  }
  if (u.username || u.password) return { ok: false, reason: 'URLs with embedded credentials are not opened' }
  if (u.protocol !== 'mailto:' && !u.hostname) return { ok: false, reason: 'the URL has no host' }
  return { ok: true, url: u.toString() }
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff': 'font/woff',
  '.woff2': 'font/woff2',
  '.ttf': 'font/ttf',
  '.wasm': 'application/wasm',
  '.map': 'application/json',
}

export function mimeTypeOf(file: string): string {
  return MIME[extname(file).toLowerCase()] ?? 'application/octet-stream'
}

export type AppAssetResolution = { file: string; mimeType: string; spaFallback: boolean } | { error: number }

/**
 * Maps a voidvm://app/... request to a file inside the built renderer folder.
 * Anything outside that folder, another host, or a non-GET is refused; paths
 * without an extension fall back to index.html (client-side routes).
 */
export function resolveAppAsset(rendererDir: string, requestUrl: string, method = 'GET'): AppAssetResolution {
  if (method !== 'GET' && method !== 'HEAD') return { error: 405 }
  let u: URL
  try {
    u = new URL(requestUrl)
  } catch {
    return { error: 400 }
  }
  if (u.protocol !== `${APP_SCHEME}:` || u.host !== APP_HOST) return { error: 404 }
  let path: string
  try {
    path = decodeURIComponent(u.pathname)
  } catch {
    return { error: 400 }
  }
  if (path.includes('\0')) return { error: 400 }
  const root = resolve(rendererDir)
  const rel = normalize(path).replace(/^([/\\])+/, '')
  const file = resolve(root, rel === '' ? 'index.html' : rel)
  if (file !== root && !file.startsWith(root + sep)) return { error: 404 }
  if (extname(file) === '') return { file: resolve(root, 'index.html'), mimeType: MIME['.html']!, spaFallback: true }
  return { file, mimeType: mimeTypeOf(file), spaFallback: false }
}

/** Headers every app:// response carries. */
export function appResponseHeaders(mimeType: string): Record<string, string> {
  return {
    'content-type': mimeType,
    'content-security-policy': RENDERER_CSP,
    'x-content-type-options': 'nosniff',
    'cross-origin-opener-policy': 'same-origin',
    'referrer-policy': 'no-referrer',
  }
}

/** SHA-256 fingerprints as Node prints them: 32 upper-case hex bytes joined by ':'. */
export const FINGERPRINT_RE = /^([0-9A-F]{2}:){31}[0-9A-F]{2}$/

export function normalizeFingerprint(fp: string): string {
  const hex = fp.replace(/[^0-9a-fA-F]/g, '').toUpperCase()
  return hex.match(/.{2}/g)?.join(':') ?? ''
}

export interface CertificateCheck {
  hostname: string
  /** SHA-256 fingerprint of the presented leaf certificate. */
  fingerprint: string
  /** Chromium's own verification said OK (a public CA, the name matches). */
  caTrusted: boolean
}

/** What the session's certificate verifier answers: accept (0), reject (-2), or keep Chromium's verdict (-3). */
export type CertificateDecision = 'accept' | 'reject' | 'default'

/**
 * Trust on first use, pinned per profile: a certificate a public CA vouches
 * for keeps Chromium's verdict; any other is accepted only when a saved
 * profile for that host pinned exactly this fingerprint. Never a blanket
 * "ignore TLS errors".
 */
export function decideCertificate(check: CertificateCheck, pinsForHost: readonly string[]): CertificateDecision {
  if (check.caTrusted) return 'default'
  const fp = normalizeFingerprint(check.fingerprint)
  if (!FINGERPRINT_RE.test(fp)) return 'reject'
  return pinsForHost.some(p => normalizeFingerprint(p) === fp) ? 'accept' : 'reject'
}

export function certificateDecisionCode(d: CertificateDecision): number {
  return d === 'accept' ? 0 : d === 'reject' ? -2 : -3
}
