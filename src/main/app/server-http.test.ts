import { describe, expect, it } from 'vitest'
import { checkServerRequest } from './server-http.js'
import { IPC, parseIpcArgs } from './ipc.js'

describe('server HTTP requests from the page', () => {
  it('allows exactly health (GET) and login (POST)', () => {
    expect(checkServerRequest({ url: 'https://lab.example:3443/api/health', method: 'GET' }).toString()).toBe(
      'https://lab.example:3443/api/health',
    )
    expect(checkServerRequest({ url: 'wss://lab.example:3443/api/auth/login#x', method: 'POST' }).toString()).toBe(
      'https://lab.example:3443/api/auth/login',
    )
  })
  it.each([
    [{ url: 'https://h/ws', method: 'GET' as const }, /only \/api\/health and \/api\/auth\/login/],
    [{ url: 'https://h/api/auth/login', method: 'GET' as const }, /takes POST, not GET/],
    [{ url: 'https://h/api/health', method: 'POST' as const }, /takes GET, not POST/],
    [{ url: 'file:///api/health', method: 'GET' as const }, /file: is not http/],
    [{ url: 'https://a:b@h/api/health', method: 'GET' as const }, /credentials/],
    [{ url: '/api/health', method: 'GET' as const }, /not an absolute URL/],
  ])('refuses %j', (req, why) => {
    expect(() => checkServerRequest(req)).toThrow(why)
  })
  it('validates the IPC arguments', () => {
    expect(() => parseIpcArgs(IPC.serverHttp, [{ url: 'https://h/api/health', method: 'DELETE' }])).toThrow(
      /argument 0.method/,
    )
    expect(() =>
      parseIpcArgs(IPC.serverHttp, [{ url: 'https://h/api/health', method: 'GET', body: 'x'.repeat(70000) }]),
    ).toThrow(/argument 0.body/)
  })
})
