import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { fakeFactory, type FakeSocket } from '../test/fakeSocket'
import { i18n } from '../i18n'
import { clearEvents, useEventStore } from './events'
import { endSession, startSession } from './session'

const tick = () => new Promise(r => setTimeout(r, 0))
let socket: FakeSocket

beforeEach(async () => {
  await i18n.changeLanguage('en')
  clearEvents()
  useEventStore.setState({ toasts: [] })
  const { factory, sockets } = fakeFactory()
  startSession({ url: 'http://h:1', name: 'h' }, 't', { socketFactory: factory })
  socket = sockets[0]!
  socket.open()
  socket.acceptAuth() // signed in as alice (u1)
  await tick()
})

afterEach(() => endSession())

describe('system-event pushes in the feed and the toasts', () => {
  it('keeps the acting user’s name in the feed and names them in a warning’s toast', () => {
    socket.serverSends({
      type: 'system-event',
      data: { event: 'vm-paused', vmId: 'web', userId: 'u2', username: 'bob', message: 'x', level: 'warning' },
    })
    expect(useEventStore.getState().events[0]).toMatchObject({ event: 'vm-paused', userId: 'u2', username: 'bob' })
    expect(useEventStore.getState().toasts.at(-1)).toMatchObject({
      level: 'warning',
      title: 'VM web paused',
      body: 'by bob',
      code: 'vm-paused',
    })
  })

  it('an older server’s event with only our userId still names us; one from libvirt names nobody', () => {
    socket.serverSends({
      type: 'system-event',
      data: { event: 'vm-crashed', vmId: 'db', userId: 'u1', message: 'x', level: 'error' },
    })
    expect(useEventStore.getState().toasts.at(-1)).toMatchObject({ title: 'VM db crashed', body: 'by alice (you)' })
    socket.serverSends({
      type: 'system-event',
      data: { event: 'vm-crashed', vmId: 'db', message: 'x', level: 'error' },
    })
    expect(useEventStore.getState().toasts.at(-1)?.body).toBeUndefined()
    expect(useEventStore.getState().events).toHaveLength(2)
  })
})
