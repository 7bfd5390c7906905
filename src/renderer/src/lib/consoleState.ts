/**
 * The console tab's decisions, kept pure so they can be tested without noVNC:
 * whether to try vnc-connect at all, and what a failed vnc-connect leads to.
 */
import type { Role, VmStatusValue } from '../../../shared/protocol'
import { canOpenConsole } from './permissions'

export type ConsolePhase =
  'not-allowed' | 'off' | 'paused-off' | 'connecting' | 'connected' | 'reconnecting' | 'no-display' | 'failed'

/**
 * The phase before any connection attempt says otherwise, or null when the
 * console should connect. A role without the console permission never
 * connects (the server would refuse it), whatever the VM's state.
 */
export function consoleGate(
  role: Role | undefined,
  status: VmStatusValue | 'unknown',
  socketOpen: boolean,
): 'not-allowed' | 'off' | 'paused-off' | null {
  if (!canOpenConsole(role)) return 'not-allowed'
  const up = status === 'running' || status === 'paused'
  if (up && socketOpen) return null
  return status === 'paused' ? 'paused-off' : 'off'
}

export interface ConnectErrorOutcome {
  phase: 'reconnecting' | 'failed' | 'no-display'
  /** Try again by itself after a backoff delay. */
  retry: boolean
  /** Show the error text (a permanent "no display" is a state, not an error). */
  showError: boolean
}

/** Attempts shown as "reconnecting" before a still-retrying console says it failed. */
const QUIET_ATTEMPTS = 3

/**
 * What a failed vnc-connect leads to, by error code, while the VM is believed
 * up. `attempt` counts the consecutive failed attempts including this one.
 */
export function afterConnectError(code: string, attempt: number): ConnectErrorOutcome {
  switch (code) {
    // The server says the VM is not running or has no VNC graphics. The VM is
    // up as far as we know, so it has no display: retrying cannot help. If it
    // had just stopped, its new status arrives and the tab shows "off"; a
    // state change (e.g. a restart with new graphics) retries.
    case 'VNC_UNAVAILABLE':
      return { phase: 'no-display', retry: false, showError: false }
    // QEMU's VNC server did not answer (yet), or the socket dropped: transient.
    case 'VNC_CONNECT_FAILED':
    case 'DISCONNECTED':
    case 'TIMEOUT':
      return { phase: attempt > QUIET_ATTEMPTS ? 'failed' : 'reconnecting', retry: true, showError: true }
    // FORBIDDEN, VM_NOT_FOUND, SESSION_LIMIT…: the same request fails the same way.
    default:
      return { phase: 'failed', retry: false, showError: true }
  }
}

/**
 * The file name a console screenshot is saved under: the VM's name (with
 * characters no file system takes replaced by `_`) and the local time,
 * e.g. `web-1-20261127-143005.png`, so shots sort by time.
 */
export function screenshotFileName(vmName: string, at: Date): string {
  // eslint-disable-next-line no-control-regex
  const safe = vmName.replace(/[<>:"/\\|?*\u0000-\u001f]/g, '_').replace(/^\.+/, '_') || 'vm'
  const p = (n: number) => String(n).padStart(2, '0')
  const stamp =
    `${at.getFullYear()}${p(at.getMonth() + 1)}${p(at.getDate())}` +
    `-${p(at.getHours())}${p(at.getMinutes())}${p(at.getSeconds())}`
  return `${safe}-${stamp}.png`
}
