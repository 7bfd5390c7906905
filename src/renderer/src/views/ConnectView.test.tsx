/**
 * The trust step of the connect view, rendered to markup: the certificate's
 * SHA-256 fingerprint is shown with "Trust this certificate" / "Cancel", a
 * changed certificate gets the loud warning, and both languages are complete.
 */
import { renderToStaticMarkup } from 'react-dom/server'
import { I18nextProvider } from 'react-i18next'
import { afterEach, describe, expect, it } from 'vitest'
import type { CertificateInfo } from '../../../preload/api'
import { i18n } from '../i18n'
import { CertificateTrust } from './ConnectView'

const cert: CertificateInfo = {
  host: '192.0.2.10',
  port: 3443,
  fingerprint: '5E:4A:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD:EE:FF:00:11:22:33:44:55:66:77:88:99:AA:BB:CC:DD',
  subject: 'CN=lab',
  issuer: 'CN=lab',
  validFrom: '2026-01-01T00:00:00.000Z',
  validTo: '2027-01-01T00:00:00.000Z',
  caTrusted: false,
}

const render = (changed: boolean) =>
  renderToStaticMarkup(
    <I18nextProvider i18n={i18n}>
      <CertificateTrust cert={cert} changed={changed} onTrust={() => undefined} onCancel={() => undefined} />
    </I18nextProvider>,
  )

afterEach(async () => {
  await i18n.changeLanguage('en')
})

describe('CertificateTrust', () => {
  it('shows the fingerprint, the host and the two choices', () => {
    const html = render(false)
    expect(html).toContain(cert.fingerprint)
    expect(html).toContain('192.0.2.10:3443')
    expect(html).toContain('Trust this certificate')
    expect(html).toContain('>Cancel<')
    expect(html).toContain('SHA-256 fingerprint')
    expect(html).toContain('2026-01-01 to 2027-01-01')
    expect(html).not.toContain('Warning')
  })

  it('warns loudly when the pinned certificate changed', () => {
    const html = render(true)
    expect(html).toContain('alert-danger')
    expect(html).toContain('Warning: the certificate of 192.0.2.10:3443 is not the one you trusted before')
  })

  it('is translated into Simplified Chinese', async () => {
    await i18n.changeLanguage('zh-CN')
    const html = render(false)
    expect(html).toContain('信任此证书')
    expect(html).toContain('取消')
    expect(html).toContain(cert.fingerprint)
  })
})
