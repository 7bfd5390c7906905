/**
 * Reads a remote server's TLS certificate so the user can compare its
 * fingerprint before trusting it. Only the handshake happens: no request,
 * no token is sent to a server that is not yet trusted.
 */
import { connect } from 'node:tls'
import { isIP } from 'node:net'
import type { CertificateInfo } from '../../preload/api.js'

export class CertificateProbeError extends Error {
  override name = 'CertificateProbeError'
}

function defaultPort(u: URL): number {
  if (u.port) return Number(u.port)
  return u.protocol === 'https:' || u.protocol === 'wss:' ? 443 : 80
}

export function probeCertificate(rawUrl: string, timeoutMs = 8000): Promise<CertificateInfo> {
  let u: URL
  try {
    u = new URL(rawUrl)
  } catch {
    return Promise.reject(new CertificateProbeError(`'${rawUrl}' is not a URL`))
  }
  if (u.protocol !== 'https:' && u.protocol !== 'wss:') {
    return Promise.reject(
      new CertificateProbeError(`${u.protocol}// has no certificate: use https:// or wss:// for a remote server`),
    )
  }
  const host = u.hostname.replace(/^\[|\]$/g, '')
  const port = defaultPort(u)
  return new Promise((resolve, reject) => {
    const socket = connect({
      host,
      port,
      // SNI only for names; verification is reported, not enforced, because
      // the point is to show an untrusted certificate to the user.
      ...(isIP(host) ? {} : { servername: host }),
      rejectUnauthorized: false,
      ALPNProtocols: ['http/1.1'],
    })
    const timer = setTimeout(() => {
      socket.destroy()
      reject(new CertificateProbeError(`no TLS handshake with ${host}:${port} within ${timeoutMs / 1000} s`))
    }, timeoutMs)
    socket.once('secureConnect', () => {
      clearTimeout(timer)
      const cert = socket.getPeerX509Certificate()
      const authorized = socket.authorized
      const verifyError = socket.authorizationError ? String(socket.authorizationError) : undefined
      socket.end()
      if (!cert) {
        reject(new CertificateProbeError(`${host}:${port} presented no certificate`))
        return
      }
      resolve({
        host,
        port,
        fingerprint: cert.fingerprint256,
        subject: cert.subject.replace(/\n/g, ', '),
        issuer: cert.issuer.replace(/\n/g, ', '),
        validFrom: new Date(cert.validFrom).toISOString(),
        validTo: new Date(cert.validTo).toISOString(),
        caTrusted: authorized,
        ...(verifyError ? { verifyError } : {}),
      })
    })
    socket.once('error', err => {
      clearTimeout(timer)
      reject(new CertificateProbeError(`cannot reach ${host}:${port}: ${err.message}`))
    })
  })
}
