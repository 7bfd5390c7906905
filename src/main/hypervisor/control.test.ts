import { describe, expect, it } from 'vitest'
import { planControl } from './control.js'

describe('vm-control plan', () => {
  it('maps actions to libvirt calls', () => {
    expect(planControl('v', 'start', false, 'stopped')).toEqual({ op: 'create' })
    expect(planControl('v', 'start', false, 'crashed')).toEqual({ op: 'create' })
    expect(planControl('v', 'stop', false, 'running')).toEqual({ op: 'shutdown' })
    expect(planControl('v', 'stop', true, 'running')).toEqual({ op: 'destroy' })
    expect(planControl('v', 'stop', true, 'paused')).toEqual({ op: 'destroy' })
    expect(planControl('v', 'restart', false, 'running')).toEqual({ op: 'reboot' })
    expect(planControl('v', 'restart', true, 'running')).toEqual({ op: 'reset' })
    expect(planControl('v', 'reset', false, 'running')).toEqual({ op: 'reset' })
    expect(planControl('v', 'pause', false, 'running')).toEqual({ op: 'suspend' })
    expect(planControl('v', 'resume', false, 'paused')).toEqual({ op: 'resume' })
  })

  const refusal = (...a: Parameters<typeof planControl>) => {
    const p = planControl(...a)
    return 'refuse' in p ? p.refuse : undefined
  }

  it.each([
    ['start', 'running', 'VM_ALREADY_RUNNING'],
    ['start', 'paused', 'VM_ALREADY_RUNNING'],
    ['stop', 'stopped', 'VM_NOT_RUNNING'],
    ['restart', 'stopped', 'VM_NOT_RUNNING'],
    ['reset', 'stopped', 'VM_NOT_RUNNING'],
    ['pause', 'stopped', 'VM_NOT_RUNNING'],
    ['pause', 'paused', 'VM_NOT_RUNNING'],
    ['resume', 'running', 'VM_NOT_PAUSED'],
    ['resume', 'stopped', 'VM_NOT_PAUSED'],
  ] as const)('%s on a %s VM is refused with %s', (action, status, code) => {
    expect(refusal('v', action, false, status)).toBe(code)
  })

  it('names the VM and its state in the refusal message', () => {
    const p = planControl('web-1', 'resume', false, 'running')
    expect(p).toMatchObject({ message: expect.stringContaining('web-1') })
    expect(p).toMatchObject({ message: expect.stringContaining('running') })
  })
})
