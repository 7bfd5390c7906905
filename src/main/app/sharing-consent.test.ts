import { describe, expect, it } from 'vitest'
import { sharingConsentText, sharingNeedsConsent } from './sharing-consent.js'
import type { SharingSettings } from './settings.js'

const off: SharingSettings = { enabled: false, host: '0.0.0.0', port: 3443 }
const on: SharingSettings = { ...off, enabled: true, tlsCertPath: '/c.pem', tlsKeyPath: '/k.pem' }

describe('sharing consent', () => {
  it('asks before sharing starts or is widened, never to stop it', () => {
    expect(sharingNeedsConsent(off, on)).toBe(true)
    expect(sharingNeedsConsent(on, { ...on, port: 4443 })).toBe(true)
    expect(sharingNeedsConsent(on, { ...on, host: '192.0.2.7' })).toBe(true)
    expect(sharingNeedsConsent(on, { ...on, tlsCertPath: '/other.pem' })).toBe(true)
    expect(sharingNeedsConsent(on, { ...on, tlsKeyPath: '/other.key' })).toBe(true)
    // Re-applying what is already running, or turning it off, needs nobody's consent.
    expect(sharingNeedsConsent(on, { ...on })).toBe(false)
    expect(sharingNeedsConsent(on, off)).toBe(false)
    expect(sharingNeedsConsent(off, off)).toBe(false)
  })

  it('says where the server will be reachable', () => {
    expect(sharingConsentText(on).detail).toContain('every address of this machine, port 3443')
    expect(sharingConsentText({ ...on, host: '192.0.2.7', port: 8443 }).detail).toContain('192.0.2.7, port 8443')
  })
})
