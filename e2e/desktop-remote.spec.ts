/**
 * The desktop app's "Add a server" against a second, real voidvm-server over
 * TLS with a self-signed certificate, in Chromium.
 *
 * window.voidvm is the Electron preload's API; here an init script stands in
 * for it, and its serverHttp / probeCertificate / trustCertificate run in
 * Node (page.exposeFunction) the way the main process runs them: serverHttp
 * is the app's own serverHttp() over a fetch that, like the app's session
 * certificate verifier, accepts exactly the pinned certificate of the host;
 * probeCertificate is the app's own TLS probe. The page cannot carry the
 * app's voidvm://app origin, so the remote server is started with
 * --allow-origin for this page's origin, and the context ignores Chromium's
 * own verdict on the self-signed certificate (the app's verifier accepts the
 * pinned one). Everything else is the real renderer and the real server.
 */
import { test, expect } from '@playwright/test'
import { request as httpsRequest } from 'node:https'
import { rm } from 'node:fs/promises'
import { probeCertificate } from '../src/main/app/cert-probe.js'
import { serverHttp } from '../src/main/app/server-http.js'
import { makeSelfSignedCert, type TestCert } from '../src/main/app/testing/tls.js'
import type { ServerHttpRequest } from '../src/preload/api.js'
import { startE2eServer, type E2eServer, type E2eUser } from './server.js'

let home: E2eServer
let remote: E2eServer
let cert: TestCert
let operator: E2eUser

test.beforeAll(async () => {
  cert = await makeSelfSignedCert('127.0.0.1')
  home = await startE2eServer()
  remote = await startE2eServer({
    args: ['--tls-cert', cert.certPath, '--tls-key', cert.keyPath, '--allow-origin', home.url],
  })
  operator = await remote.addUser('e9-remote-op', 'operator')
})

test.afterAll(async () => {
  await remote?.stop()
  await home?.stop()
  if (cert) await rm(cert.dir, { recursive: true, force: true })
})

/** Node https with the app's rule: a certificate no CA vouches for passes only when its fingerprint is pinned. */
function pinnedFetch(pins: Set<string>) {
  return async (url: string, init: RequestInit): Promise<Response> => {
    // Checked on a handshake of its own, before anything is sent.
    const seen = await probeCertificate(url)
    if (!seen.caTrusted && !pins.has(seen.fingerprint)) throw new Error('net::ERR_FAILED')
    return new Promise((ok, fail) => {
      const req = httpsRequest(
        url,
        {
          method: init.method ?? 'GET',
          headers: (init.headers as Record<string, string> | undefined) ?? {},
          rejectUnauthorized: false,
        },
        res => {
          const chunks: Buffer[] = []
          res.on('data', (c: Buffer) => chunks.push(c))
          res.on('end', () =>
            ok(
              new Response(Buffer.concat(chunks), {
                status: res.statusCode ?? 0,
                headers: { 'content-type': String(res.headers['content-type'] ?? '') },
              }),
            ),
          )
        },
      )
      req.on('error', fail)
      req.end(typeof init.body === 'string' ? init.body : undefined)
    })
  }
}

test('desktop app: adding a remote server over TLS shows its fingerprint, trusts it on request, signs in through the main process and opens the session', async ({
  browser,
}) => {
  const pins = new Set<string>()
  const serverHttpCalls: string[] = []
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 860 }, ignoreHTTPSErrors: true })
  await ctx.exposeFunction('__e9ServerHttp', async (req: ServerHttpRequest) => {
    serverHttpCalls.push(`${req.method} ${req.url}`)
    return serverHttp(pinnedFetch(pins), req)
  })
  await ctx.exposeFunction('__e9Probe', (url: string) => probeCertificate(url))
  await ctx.exposeFunction('__e9Trust', (fingerprint: string) => {
    pins.add(fingerprint)
  })
  await ctx.addInitScript(() => {
    type Profile = {
      id: string
      name: string
      url: string
      username?: string
      hasToken: boolean
      certificateFingerprint?: string
    }
    const g = globalThis as unknown as Record<string, (...a: unknown[]) => Promise<unknown>> & { voidvm?: unknown }
    const profiles: Profile[] = []
    let n = 0
    g.voidvm = {
      version: 'e2e',
      getLocalServer: async () => null,
      listProfiles: async () => profiles.map(p => ({ ...p })),
      saveProfile: async (p: Omit<Profile, 'id' | 'hasToken'> & { id?: string; token?: string }) => {
        const prev = profiles.find(x => x.id === p.id)
        const next: Profile = {
          id: prev?.id ?? `p${++n}`,
          name: p.name,
          url: p.url,
          ...(p.username ? { username: p.username } : {}),
          hasToken: p.token !== undefined || (prev?.hasToken ?? false),
          ...(prev?.certificateFingerprint ? { certificateFingerprint: prev.certificateFingerprint } : {}),
        }
        if (prev) profiles[profiles.indexOf(prev)] = next
        else profiles.push(next)
        return { ...next }
      },
      removeProfile: async () => undefined,
      getProfileToken: async () => null,
      openExternal: async () => undefined,
      probeCertificate: (url: string) => g.__e9Probe!(url),
      trustCertificate: async (id: string, fingerprint: string) => {
        await g.__e9Trust!(fingerprint)
        const p = profiles.find(x => x.id === id)
        if (!p) throw new Error(`no profile with id '${id}'`)
        p.certificateFingerprint = fingerprint
        return { ...p }
      },
      serverHttp: (req: unknown) => g.__e9ServerHttp!(req),
    }
  })
  const page = await ctx.newPage()
  // The page itself must never POST the login (it would be a CORS request the server does not answer).
  const pageLogins: string[] = []
  page.on('request', r => {
    if (r.url().includes('/api/auth/login')) pageLogins.push(r.url())
  })
  try {
    await page.goto(home.url)
    await expect(page.getByRole('heading', { name: 'Add a server' })).toBeVisible()
    await page.getByLabel('Name', { exact: true }).fill('lab over TLS')
    await page.getByLabel('Server address').fill(remote.url)
    await page.getByLabel('Username').fill(operator.username)
    await page.getByLabel('Password').fill(operator.password)
    await page.getByRole('button', { name: 'Sign in' }).click()

    // Trust on first use: the certificate's fingerprint, and nothing trusted yet.
    const step = page.getByTestId('certificate-trust')
    await expect(step).toBeVisible({ timeout: 15_000 })
    const { X509Certificate } = await import('node:crypto')
    const fingerprint = new X509Certificate(cert.cert).fingerprint256
    await expect(page.getByTestId('certificate-fingerprint')).toHaveText(fingerprint)
    await page.screenshot({ path: 'test-results/desktop-remote/1-certificate.png' })
    await step.getByRole('button', { name: 'Cancel' }).click()
    await expect(page.getByRole('alert').filter({ hasText: 'certificate was not trusted' })).toBeVisible()
    expect(pins.size).toBe(0)

    // Again, and trust it this time: pinned, the login retried, the session opens on the remote server.
    await page.getByLabel('Password').fill(operator.password)
    await page.getByRole('button', { name: 'Sign in' }).click()
    await expect(step).toBeVisible({ timeout: 15_000 })
    await step.getByRole('button', { name: 'Trust this certificate' }).click()
    await expect(page.getByTestId('connection-state')).toHaveAttribute('data-state', 'open', { timeout: 15_000 })
    await expect(page.getByTestId('connection-state')).toContainText('lab over TLS')
    await expect(page.getByTestId('role')).toHaveText('Operator')
    // The remote server's VM list (its libvirt test driver's domain).
    await expect(page.locator('tr[data-vm="test"]')).toBeVisible({ timeout: 15_000 })
    await page.screenshot({ path: 'test-results/desktop-remote/2-connected.png' })

    expect([...pins]).toEqual([fingerprint])
    const loginUrl = `${remote.url}/api/auth/login`
    expect(serverHttpCalls).toEqual([`POST ${loginUrl}`, `POST ${loginUrl}`, `POST ${loginUrl}`])
    expect(pageLogins).toEqual([])
  } finally {
    await ctx.close()
  }
})
