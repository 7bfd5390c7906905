/**
 * The connect flow's sign-in in the desktop app: login goes through the
 * preload's serverHttp (the main process), and an untrusted certificate is
 * turned into the trust-on-first-use step. window.voidvm is the preload API;
 * here a test double of that surface records what the page asks of it.
 */
import { afterEach, describe, expect, it, vi } from 'vitest'
import type { CertificateInfo, ServerHttpRequest, ServerHttpResponse, VoidVmApi } from '../../../preload/api'
import { LoginError, signIn } from './http'

const FP = 'AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89'
const OTHER_FP = FP.replace(/^AB/, '00')

const okLogin: ServerHttpResponse = {
  status: 200,
  contentType: 'application/json',
  body: JSON.stringify({
    token: 'jwt.remote.token',
    expiresAt: '2030-01-01T00:00:00Z',
    user: { id: '1', username: 'alice', role: 'operator' },
  }),
}

const cert: CertificateInfo = {
  host: 'lab.example',
  port: 3443,
  fingerprint: FP,
  subject: 'CN=lab.example',
  issuer: 'CN=lab.example',
  validFrom: '2026-01-01T00:00:00.000Z',
  validTo: '2027-01-01T00:00:00.000Z',
  caTrusted: false,
  verifyError: 'DEPTH_ZERO_SELF_SIGNED_CERT',
}

/** A stand-in for window.voidvm: serverHttp answers from `answer`, probeCertificate from `probe`. */
function fakeApi(
  answer: (r: ServerHttpRequest) => Promise<ServerHttpResponse>,
  probe: (url: string) => Promise<CertificateInfo> = async () => cert,
) {
  const calls: ServerHttpRequest[] = []
  const probes: string[] = []
  const api: Partial<VoidVmApi> = {
    serverHttp: async r => {
      calls.push(r)
      return answer(r)
    },
    probeCertificate: async u => {
      probes.push(u)
      return probe(u)
    },
  }
  return { api, calls, probes }
}

// What ipcRenderer.invoke rejects with when the main process's net.fetch fails the TLS handshake.
const tlsRefused = () =>
  Promise.reject(
    new Error(
      "Error invoking remote method 'voidvm:server-http': ServerHttpError: cannot reach lab.example:3443: net::ERR_FAILED",
    ),
  )

afterEach(() => {
  vi.unstubAllGlobals()
})

describe('signIn in the desktop app', () => {
  it('logs in through window.voidvm.serverHttp, never the page’s fetch', async () => {
    const pageFetch = vi.fn(() => Promise.reject(new TypeError('Failed to fetch (CORS)')))
    vi.stubGlobal('fetch', pageFetch)
    const { api, calls } = fakeApi(async () => okLogin)
    const out = await signIn('https://lab.example:3443', 'alice', 'pw', api)
    expect(out).toMatchObject({ kind: 'ok', login: { token: 'jwt.remote.token', user: { username: 'alice' } } })
    expect(calls).toEqual([
      {
        url: 'https://lab.example:3443/api/auth/login',
        method: 'POST',
        body: JSON.stringify({ username: 'alice', password: 'pw' }),
      },
    ])
    expect(pageFetch).not.toHaveBeenCalled()
  })

  it('in a browser (no window.voidvm) uses the page’s fetch as before', async () => {
    const pageFetch = vi.fn(
      async (_u: string, _i?: RequestInit) =>
        new Response(okLogin.body, { status: 200, headers: { 'content-type': 'application/json' } }),
    )
    vi.stubGlobal('fetch', pageFetch)
    const out = await signIn('http://127.0.0.1:3000', 'alice', 'pw', undefined)
    expect(out.kind).toBe('ok')
    expect(pageFetch).toHaveBeenCalledWith(
      'http://127.0.0.1:3000/api/auth/login',
      expect.objectContaining({ method: 'POST' }),
    )
  })

  it('a 401 is bad credentials, with the server’s own message', async () => {
    const { api } = fakeApi(async () => ({
      status: 401,
      contentType: 'application/json',
      body: JSON.stringify({ error: { code: 'UNAUTHORIZED', message: 'wrong user name or password' } }),
    }))
    const err = await signIn('https://lab.example:3443', 'alice', 'bad', api).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LoginError)
    expect(err).toMatchObject({ reason: 'bad-credentials', message: 'wrong user name or password', network: false })
  })

  it('an untrusted certificate becomes the trust step with its fingerprint; nothing else is sent', async () => {
    const { api, calls, probes } = fakeApi(tlsRefused)
    const out = await signIn('https://lab.example:3443', 'alice', 'pw', api)
    expect(out).toEqual({ kind: 'untrusted-certificate', certificate: cert, changed: false })
    expect(probes).toEqual(['https://lab.example:3443'])
    expect(calls).toHaveLength(1)
  })

  it('a pinned certificate that changed is reported as changed', async () => {
    const { api } = fakeApi(tlsRefused)
    const out = await signIn('https://lab.example:3443', 'alice', 'pw', api, OTHER_FP)
    expect(out).toMatchObject({ kind: 'untrusted-certificate', changed: true, certificate: { fingerprint: FP } })
  })

  it('after the pin the retried login goes through', async () => {
    let pinned = false
    const { api } = fakeApi(() => (pinned ? Promise.resolve(okLogin) : tlsRefused()))
    const first = await signIn('https://lab.example:3443', 'alice', 'pw', api)
    expect(first.kind).toBe('untrusted-certificate')
    pinned = true // what trustCertificate does in the main process
    const second = await signIn('https://lab.example:3443', 'alice', 'pw', api, FP.toLowerCase())
    expect(second).toMatchObject({ kind: 'ok', login: { token: 'jwt.remote.token' } })
  })

  it('the pinned certificate still refused, a CA-trusted one, or no handshake: an error, no trust step', async () => {
    const same = fakeApi(tlsRefused)
    await expect(signIn('https://lab.example:3443', 'a', 'b', same.api, FP)).rejects.toMatchObject({
      reason: 'certificate',
    })
    const ca = fakeApi(tlsRefused, async () => ({ ...cert, caTrusted: true }))
    await expect(signIn('https://lab.example:3443', 'a', 'b', ca.api)).rejects.toMatchObject({ reason: 'unreachable' })
    const gone = fakeApi(tlsRefused, () => Promise.reject(new Error('cannot reach lab.example:3443: ECONNREFUSED')))
    await expect(signIn('https://lab.example:3443', 'a', 'b', gone.api)).rejects.toMatchObject({
      reason: 'unreachable',
      message: expect.stringContaining('ECONNREFUSED'),
    })
    // Plain http has no certificate to probe.
    const plain = fakeApi(() => Promise.reject(new Error('net::ERR_CONNECTION_REFUSED')))
    await expect(signIn('http://lab.example:3000', 'a', 'b', plain.api)).rejects.toMatchObject({
      reason: 'unreachable',
    })
    expect(plain.probes).toEqual([])
  })
})
