import { X509Certificate } from 'node:crypto'
import { rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:https'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { probeCertificate } from './cert-probe.js'
import { loadTlsPair, sharingUrls } from './local-server.js'
import { decideCertificate } from './security.js'
import { makeSelfSignedCert, type TestCert } from './testing/tls.js'

let a: TestCert
let b: TestCert
let server: Server
let port: number
let requests = 0

beforeAll(async () => {
  a = await makeSelfSignedCert('lab.voidvm.test')
  b = await makeSelfSignedCert('other.voidvm.test')
  server = createServer({ cert: a.cert, key: a.key }, (_req, res) => {
    requests++
    res.end('hello')
  })
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r))
  port = (server.address() as { port: number }).port
})
afterAll(async () => {
  await new Promise(r => server.close(r))
  await rm(a.dir, { recursive: true })
  await rm(b.dir, { recursive: true })
})

describe('certificate probe (trust on first use)', () => {
  it('reads a self-signed certificate’s fingerprint without sending a request', async () => {
    const info = await probeCertificate(`wss://127.0.0.1:${port}/ws`)
    const expected = new X509Certificate(a.cert).fingerprint256
    expect(info).toMatchObject({ host: '127.0.0.1', port, fingerprint: expected, caTrusted: false })
    expect(info.subject).toContain('CN=lab.voidvm.test')
    expect(info.verifyError).toMatch(/SELF_SIGNED/)
    expect(Date.parse(info.validTo)).toBeGreaterThan(Date.now())
    expect(requests).toBe(0)
    // What the user accepted is what the verifier later lets through, and nothing else.
    expect(
      decideCertificate({ hostname: '127.0.0.1', fingerprint: info.fingerprint, caTrusted: false }, [expected]),
    ).toBe('accept')
    const otherFp = new X509Certificate(b.cert).fingerprint256
    expect(decideCertificate({ hostname: '127.0.0.1', fingerprint: otherFp, caTrusted: false }, [expected])).toBe(
      'reject',
    )
  })

  it('says why it cannot probe', async () => {
    await expect(probeCertificate(`http://127.0.0.1:${port}/`)).rejects.toThrow(/has no certificate/)
    await expect(probeCertificate('https://127.0.0.1:1/')).rejects.toThrow(/cannot reach 127.0.0.1:1/)
  })
})

describe('TLS pair for serving this machine', () => {
  it('accepts a matching certificate and key', async () => {
    const r = await loadTlsPair(a.certPath, a.keyPath)
    expect(r.fingerprint).toBe(new X509Certificate(a.cert).fingerprint256)
  })
  it('names what is wrong', async () => {
    await expect(loadTlsPair(undefined, a.keyPath)).rejects.toThrow(/needs TLS/)
    await expect(loadTlsPair(a.certPath, b.keyPath)).rejects.toThrow(/does not belong to/)
    await expect(loadTlsPair(join(a.dir, 'missing.pem'), a.keyPath)).rejects.toThrow(/cannot read the certificate/)
    const junk = join(a.dir, 'junk.pem')
    await writeFile(junk, 'not a cert')
    await expect(loadTlsPair(junk, a.keyPath)).rejects.toThrow(/is not a PEM certificate/)
    await expect(loadTlsPair(a.certPath, junk)).rejects.toThrow(/is not a PEM private key/)
  })
})

describe('sharing URLs', () => {
  const ifaces = {
    lo: [{ address: '127.0.0.1', family: 'IPv4', internal: true, netmask: '', mac: '', cidr: null }],
    eth0: [
      { address: '192.0.2.10', family: 'IPv4', internal: false, netmask: '', mac: '', cidr: null },
      { address: '2001:db8::10', family: 'IPv6', internal: false, netmask: '', mac: '', cidr: null, scopeid: 0 },
      { address: 'fe80::1', family: 'IPv6', internal: false, netmask: '', mac: '', cidr: null, scopeid: 2 },
    ],
  } as const
  it('lists the external addresses of a wildcard bind', () => {
    const nd = ifaces as unknown as NodeJS.Dict<import('node:os').NetworkInterfaceInfo[]>
    expect(sharingUrls('0.0.0.0', 3443, nd)).toEqual(['https://192.0.2.10:3443'])
    expect(sharingUrls('::', 3443, nd)).toEqual(['https://192.0.2.10:3443', 'https://[2001:db8::10]:3443'])
    expect(sharingUrls('192.0.2.10', 3443, nd)).toEqual(['https://192.0.2.10:3443'])
  })
})
