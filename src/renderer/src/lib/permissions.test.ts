import { describe, expect, it } from 'vitest'
import { VM_STATUSES } from '../../../shared/protocol'
import {
  ACTION_REQUEST,
  actionAvailable,
  canControl,
  canOpenConsole,
  canTypeInConsole,
  DESTRUCTIVE,
  UI_ACTIONS,
} from './permissions'

describe('permissions', () => {
  it('only admins and operators control VMs', () => {
    expect(canControl('admin')).toBe(true)
    expect(canControl('operator')).toBe(true)
    expect(canControl('viewer')).toBe(false)
    expect(canControl(undefined)).toBe(false)
  })

  it('matches the server: only admins and operators open (and type into) consoles', () => {
    for (const f of [canOpenConsole, canTypeInConsole]) {
      expect(f('admin')).toBe(true)
      expect(f('operator')).toBe(true)
      expect(f('viewer')).toBe(false)
      expect(f(undefined)).toBe(false)
    }
  })

  it('offers the actions that make sense in each state', () => {
    const avail = (s: (typeof VM_STATUSES)[number]) => UI_ACTIONS.filter(a => actionAvailable(a, s))
    expect(avail('running')).toEqual(['shutdown', 'forceoff', 'reboot', 'reset', 'pause'])
    expect(avail('paused')).toEqual(['forceoff', 'resume'])
    expect(avail('stopped')).toEqual(['start'])
    expect(avail('crashed')).toEqual(['start', 'forceoff'])
  })

  it('maps UI actions to protocol actions, confirming the destructive ones', () => {
    expect(ACTION_REQUEST.forceoff).toEqual({ action: 'stop', force: true })
    expect(ACTION_REQUEST.shutdown).toEqual({ action: 'stop' })
    expect(ACTION_REQUEST.reboot).toEqual({ action: 'restart' })
    expect([...DESTRUCTIVE].sort()).toEqual(['forceoff', 'reboot', 'reset', 'shutdown'])
  })
})
