import { describe, expect, it } from 'vitest'
import { buildEvent, eventMessage, mapLifecycle, mapReboot } from './events.js'
import { SYSTEM_EVENTS } from '../../shared/protocol.js'

describe('lifecycle → system-event', () => {
  it('maps each lifecycle event', () => {
    expect(mapLifecycle(0, 0)?.event).toBe('vm-created')
    expect(mapLifecycle(0, 1)).toBeUndefined() // definition updated
    expect(mapLifecycle(1, 0)?.event).toBe('vm-deleted')
    expect(mapLifecycle(2, 0)?.event).toBe('vm-started')
    expect(mapLifecycle(3, 0)?.event).toBe('vm-paused')
    expect(mapLifecycle(4, 0)?.event).toBe('vm-resumed')
    expect(mapLifecycle(5, 0)?.event).toBe('vm-stopped')
    expect(mapLifecycle(5, 1)?.event).toBe('vm-stopped')
    expect(mapLifecycle(5, 2)).toMatchObject({ event: 'vm-crashed', level: 'error' })
    expect(mapLifecycle(6, 0)).toBeUndefined()
    expect(mapLifecycle(8, 0)).toMatchObject({ event: 'vm-crashed', level: 'error' })
    expect(mapLifecycle(3, 2)).toMatchObject({ event: 'vm-paused', level: 'error' })
  })

  it('tells a reset from a restart by what was asked', () => {
    expect(mapReboot().event).toBe('vm-restarted')
    expect(mapReboot({ action: 'restart' }).event).toBe('vm-restarted')
    expect(mapReboot({ action: 'restart', force: true }).event).toBe('vm-reset')
    expect(mapReboot({ action: 'reset' }).event).toBe('vm-reset')
  })

  it('localises messages; codes stay the same', () => {
    expect(eventMessage('vm-created', 'zh-CN')).toBe('虚拟机创建成功')
    expect(eventMessage('vm-created', 'en')).toBe('Virtual machine created')
    const zh = buildEvent({ event: 'vm-started', level: 'info' }, 'zh-CN', 'vm-001', {
      userId: 'u1',
      username: 'alice',
    })
    expect(zh).toEqual({
      event: 'vm-started',
      vmId: 'vm-001',
      userId: 'u1',
      username: 'alice',
      message: '虚拟机已启动',
      level: 'info',
    })
    const en = buildEvent({ event: 'vm-started', level: 'info' }, 'en', 'vm-001')
    expect(en.event).toBe('vm-started')
    expect(en).not.toHaveProperty('userId')
    expect(en).not.toHaveProperty('username')
  })

  it('has a message in both locales for every event', () => {
    for (const e of SYSTEM_EVENTS) {
      expect(eventMessage(e, 'en')).toMatch(/\w/)
      expect(eventMessage(e, 'zh-CN')).toMatch(/[\u4e00-\u9fff]/)
    }
  })
})
