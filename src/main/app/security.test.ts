import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  RENDERER_CSP,
  appResponseHeaders,
  certificateDecisionCode,
  checkExternalUrl,
  decideCertificate,
  isAppUrl,
  normalizeFingerprint,
  resolveAppAsset,
} from './security.js'

const FP = Array.from({ length: 32 }, (_, i) => i.toString(16).padStart(2, '0').toUpperCase()).join(':')
const OTHER = 'FF:'.repeat(31) + 'FF'

describe('external links', () => {
  it.each(['https://voidvm.dev/docs', 'http://example.org/a?b=c', 'mailto:ops@example.org'])('opens %s', url => {
    expect(checkExternalUrl(url)).toMatchObject({ ok: true })
  })
  it.each([
    ['file:///etc/passwd', /scheme 'file:'/],
    ['javascript:alert(1)', /scheme 'javascript:'/],
    ['smb://host/share', /scheme 'smb:'/],
    ['voidvm://app/index.html', /scheme 'voidvm:'/],
    ['https://user:pw@example.org/', /credentials/],
    ['not a url', /not an absolute URL/],
    ['', /non-empty/],
    ['https://x/' + 'a'.repeat(3000), /2048/],
  ])('refuses %#', (url, reason) => {
    const r = checkExternalUrl(url)
    expect(r.ok).toBe(false)
    if (!r.ok) expect(r.reason).toMatch(reason)
  })
  it('refuses non-strings', () => expect(checkExternalUrl({ href: 'https://x' })).toMatchObject({ ok: false }))
})

describe('app:// origin and assets', () => {
  it('knows its own pages', () => {
    expect(isAppUrl('voidvm://app/index.html')).toBe(true)
    expect(isAppUrl('voidvm://app/vms/web1')).toBe(true)
    expect(isAppUrl('http://127.0.0.1:3000/')).toBe(false)
    expect(isAppUrl('voidvm://evil/')).toBe(false)
  })

  it('maps requests into the renderer folder only', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'voidvm-assets-'))
    try {
      expect(resolveAppAsset(dir, 'voidvm://app/')).toEqual({
        file: join(dir, 'index.html'),
        mimeType: 'text/html; charset=utf-8',
        spaFallback: false,
      })
      expect(resolveAppAsset(dir, 'voidvm://app/assets/index-1.js')).toMatchObject({
        file: join(dir, 'assets/index-1.js'),
        mimeType: 'text/javascript; charset=utf-8',
      })
      expect(resolveAppAsset(dir, 'voidvm://app/vms/web1')).toMatchObject({
        file: join(dir, 'index.html'),
        spaFallback: true,
      })
      for (const nasty of [
        'voidvm://app/%2e%2e/%2e%2e/etc/passwd',
        'voidvm://app/x%2F..%2F..%2F..%2Fetc%2Fpasswd',
        'voidvm://app/..%5c..%5csecret.txt',
        'voidvm://app/assets/../../../../root/.ssh/id_rsa',
      ]) {
        const r = resolveAppAsset(dir, nasty)
        if ('file' in r) expect(r.file.startsWith(dir + '/'), `${nasty} → ${r.file}`).toBe(true)
      }
      expect(resolveAppAsset(dir, 'voidvm://app/a%00.js')).toEqual({ error: 400 })
      expect(resolveAppAsset(dir, 'voidvm://app/%E0%A4%A')).toEqual({ error: 400 })
      expect(resolveAppAsset(dir, 'voidvm://other/index.html')).toEqual({ error: 404 })
      expect(resolveAppAsset(dir, 'voidvm://app/index.html', 'POST')).toEqual({ error: 405 })
    } finally {
      await rm(dir, { recursive: true })
    }
  })

  it('serves every response with a strict CSP', () => {
    const h = appResponseHeaders('text/html')
    expect(h['content-security-policy']).toBe(RENDERER_CSP)
    expect(RENDERER_CSP).toContain("script-src 'self'")
    expect(RENDERER_CSP).not.toMatch(/script-src[^;]*unsafe-(inline|eval)/)
    expect(RENDERER_CSP).toContain("object-src 'none'")
    expect(RENDERER_CSP).toContain("frame-ancestors 'none'")
    // Plain http/ws only to loopback; remote servers only over TLS.
    expect(RENDERER_CSP).toMatch(/connect-src 'self' http:\/\/127\.0\.0\.1:\* ws:\/\/127\.0\.0\.1:\*[^;]* https: wss:/)
    expect(RENDERER_CSP).not.toMatch(/connect-src[^;]* (http|ws):( |;|$)/)
    expect(h['x-content-type-options']).toBe('nosniff')
  })
})

describe('certificate trust on first use', () => {
  it('keeps Chromium’s verdict for CA-trusted certificates', () => {
    expect(decideCertificate({ hostname: 'h', fingerprint: FP, caTrusted: true }, [])).toBe('default')
    expect(certificateDecisionCode('default')).toBe(-3)
  })
  it('accepts an untrusted certificate only when its exact fingerprint is pinned for the host', () => {
    expect(decideCertificate({ hostname: 'h', fingerprint: FP, caTrusted: false }, [])).toBe('reject')
    expect(decideCertificate({ hostname: 'h', fingerprint: FP, caTrusted: false }, [OTHER])).toBe('reject')
    expect(decideCertificate({ hostname: 'h', fingerprint: FP, caTrusted: false }, [OTHER, FP.toLowerCase()])).toBe(
      'accept',
    )
    expect(decideCertificate({ hostname: 'h', fingerprint: 'garbage', caTrusted: false }, ['garbage'])).toBe('reject')
    expect(certificateDecisionCode('accept')).toBe(0)
    expect(certificateDecisionCode('reject')).toBe(-2)
  })
  it('normalises fingerprints written in other styles', () => {
    expect(normalizeFingerprint(FP.replace(/:/g, '').toLowerCase())).toBe(FP)
  })
})
