import { describe, expect, it } from 'vitest'
import { afterConnectError, consoleGate, screenshotFileName } from './consoleState'

describe('console: whether to connect', () => {
  it('a viewer never connects, whatever the VM does', () => {
    for (const s of ['running', 'paused', 'stopped', 'unknown'] as const) {
      expect(consoleGate('viewer', s, true)).toBe('not-allowed')
      expect(consoleGate(undefined, s, true)).toBe('not-allowed')
    }
  })

  it('operators and admins connect to a running or paused VM over an open socket', () => {
    expect(consoleGate('operator', 'running', true)).toBeNull()
    expect(consoleGate('admin', 'paused', true)).toBeNull()
    expect(consoleGate('admin', 'stopped', true)).toBe('off')
    expect(consoleGate('admin', 'crashed', true)).toBe('off')
    expect(consoleGate('admin', 'running', false)).toBe('off')
    expect(consoleGate('admin', 'paused', false)).toBe('paused-off')
  })
})

describe('console: after a failed vnc-connect', () => {
  it('a running VM without VNC graphics is a permanent state, not retried and not an error', () => {
    expect(afterConnectError('VNC_UNAVAILABLE', 1)).toEqual({ phase: 'no-display', retry: false, showError: false })
  })

  it('transient failures keep retrying, reported as failed after a few attempts', () => {
    for (const code of ['VNC_CONNECT_FAILED', 'DISCONNECTED', 'TIMEOUT']) {
      expect(afterConnectError(code, 1)).toEqual({ phase: 'reconnecting', retry: true, showError: true })
      expect(afterConnectError(code, 3).phase).toBe('reconnecting')
      expect(afterConnectError(code, 4)).toEqual({ phase: 'failed', retry: true, showError: true })
    }
  })

  it('refusals that cannot change are shown once, without retrying', () => {
    for (const code of ['FORBIDDEN', 'VM_NOT_FOUND', 'SESSION_LIMIT', 'INTERNAL_ERROR'])
      expect(afterConnectError(code, 1)).toEqual({ phase: 'failed', retry: false, showError: true })
  })
})

describe('console: screenshot file names', () => {
  const at = new Date(2026, 10, 7, 9, 5, 3)
  it('name the VM and the local time, zero-padded so they sort', () => {
    expect(screenshotFileName('web-1', at)).toBe('web-1-20261107-090503.png')
  })
  it('replace characters file systems refuse, and never start with a dot', () => {
    expect(screenshotFileName('a/b:c*?"<>|\\d', at)).toBe('a_b_c_______d-20261107-090503.png')
    expect(screenshotFileName('..hidden', at)).toBe('_hidden-20261107-090503.png')
    expect(screenshotFileName('', at)).toBe('vm-20261107-090503.png')
  })
})
