/**
 * Sharing puts this machine's VMs on the network, so the renderer alone may
 * not turn it on: a request that widens exposure (off → on, or another
 * address, port or certificate while on) is confirmed by the user in a
 * main-process dialog the page cannot draw or click. Turning sharing off
 * never needs consent.
 */
import type { SharingSettings } from './settings.js'

export function sharingNeedsConsent(prev: SharingSettings, next: SharingSettings): boolean {
  if (!next.enabled) return false
  return (
    !prev.enabled ||
    prev.host !== next.host ||
    prev.port !== next.port ||
    prev.tlsCertPath !== next.tlsCertPath ||
    prev.tlsKeyPath !== next.tlsKeyPath
  )
}

/** The confirmation dialog's words. */
export function sharingConsentText(next: SharingSettings): { message: string; detail: string } {
  const everywhere = next.host === '0.0.0.0' || next.host === '::'
  return {
    message: 'Serve this machine’s VMs on the network?',
    detail:
      `Other computers will be able to reach this app’s server at ${everywhere ? 'every address of this machine' : next.host}, port ${next.port}, ` +
      'and control the VMs here after signing in with a user of this server.\n\n' +
      'Only confirm if you asked for this in VoidVM just now.',
  }
}

/** The error the renderer gets when the user declines. */
export const SHARING_DECLINED = 'sharing was not turned on: it was declined in the confirmation dialog'
