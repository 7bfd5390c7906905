import { describe, expect, it } from 'vitest'
import { ERROR_CODE_LIST } from '../../../shared/errors'
import { SYSTEM_EVENTS, VM_STATUSES } from '../../../shared/protocol'
import { en } from './en'
import { zhCN } from './zh-CN'
import { describeActor, describeError, describeEvent, describeServerError, i18n } from './index'

function keys(o: object, prefix = ''): string[] {
  return Object.entries(o).flatMap(([k, v]) =>
    v && typeof v === 'object' ? keys(v as object, `${prefix}${k}.`) : [`${prefix}${k}`],
  )
}

function leaves(o: object): string[] {
  return Object.values(o).flatMap(v => (v && typeof v === 'object' ? leaves(v as object) : [String(v)]))
}

describe('translations', () => {
  it('English and Simplified Chinese have exactly the same keys', () => {
    expect(keys(zhCN).sort()).toEqual(keys(en).sort())
  })

  it('every Chinese string is translated (none left identical to English, except names and symbols)', () => {
    const same = keys(en).filter((k, i) => leaves(en)[i] === leaves(zhCN)[i])
    const allowed = /^(app\.name|list\.col\.cpu|detail\.cpu|detail\.uuid|host\.cpu|console\.(scaleOne|ctrlAltDel))$/
    expect(same.filter(k => !allowed.test(k))).toEqual([])
  })

  it('covers every server event, error code and VM state', () => {
    for (const e of SYSTEM_EVENTS) expect(en.events.name).toHaveProperty([e])
    for (const c of ERROR_CODE_LIST) expect(en.error).toHaveProperty([c])
    for (const s of VM_STATUSES) expect(en.status).toHaveProperty([s])
  })

  it('shows the server’s message under a translated error title, since it says what to fix', () => {
    const msg = 'data.text: character 4 ("é", U+00E9) has no key on the US keyboard layout text is typed with'
    expect(describeServerError('INVALID_MESSAGE', msg, 'web')).toEqual({
      title: 'The request was invalid.',
      body: `web · ${msg}`,
    })
    // Details already in the message are not repeated; others are.
    expect(describeServerError('VNC_CONNECT_FAILED', 'could not open: refused', undefined, 'refused').body).toBe(
      'could not open: refused',
    )
    expect(describeServerError('VNC_CONNECT_FAILED', 'could not open', undefined, 'refused').body).toBe(
      'could not open · refused',
    )
    // A code without a translation shows the server text once, as the title.
    expect(describeServerError('NOT_A_CODE', 'server says')).toEqual({ title: 'server says', body: undefined })
  })

  it('localises server events and errors from their codes, not the server text', async () => {
    await i18n.changeLanguage('zh-CN')
    expect(describeEvent({ event: 'vm-started', vmId: 'web', message: 'VM web started' })).toBe('虚拟机 web 已启动')
    expect(describeError('VM_NOT_RUNNING', 'x')).toBe('虚拟机未运行。')
    await i18n.changeLanguage('en')
    expect(describeEvent({ event: 'vm-crashed', vmId: 'db', message: '' })).toBe('VM db crashed')
    expect(describeError('NOT_A_CODE', 'server says')).toBe('server says')
  })
})

describe('the user who acted on an event', () => {
  const me = { userId: '8c1c2f0e-0000-4000-8000-000000000001', username: 'alice' }
  const bobId = '3b7d9a41-0000-4000-8000-000000000002'

  it('names other users by the name the server sends, and marks the signed-in user', async () => {
    await i18n.changeLanguage('en')
    expect(describeActor({ userId: bobId, username: 'bob' }, me)).toBe('bob')
    expect(describeActor({ userId: me.userId, username: 'alice' }, me)).toBe('alice (you)')
    expect(i18n.t('events.by', { user: describeActor({ userId: bobId, username: 'bob' }, me) })).toBe('by bob')
    await i18n.changeLanguage('zh-CN')
    expect(describeActor({ userId: me.userId, username: 'alice' }, me)).toBe('alice（你）')
    expect(i18n.t('events.by', { user: describeActor({ userId: bobId, username: 'bob' }, me) })).toBe('操作者 bob')
    await i18n.changeLanguage('en')
  })

  it('names nobody for events that did not come through VoidVM', () => {
    expect(describeActor({}, me)).toBeUndefined()
    expect(describeActor({}, null)).toBeUndefined()
  })

  it('falls back for servers that send only userId: ours by name, others by a short id', async () => {
    await i18n.changeLanguage('en')
    expect(describeActor({ userId: me.userId }, me)).toBe('alice (you)')
    expect(describeActor({ userId: bobId }, me)).toBe('user 3b7d9a41…')
    expect(describeActor({ userId: bobId }, null)).toBe('user 3b7d9a41…')
    expect(describeActor({ userId: 'u1' }, me)).toBe('user u1')
    await i18n.changeLanguage('zh-CN')
    expect(describeActor({ userId: bobId }, me)).toBe('用户 3b7d9a41…')
    await i18n.changeLanguage('en')
  })

  it('does not take a name for the signed-in user when only the name matches', () => {
    // Names are not identities: another account called "alice" on this server is not "you".
    expect(describeActor({ userId: bobId, username: 'alice' }, me)).toBe('alice')
  })
})
