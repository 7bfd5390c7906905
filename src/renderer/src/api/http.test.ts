import { describe, expect, it } from 'vitest'
import { login, LoginError, normaliseServerUrl } from './http'

const json = (status: number, body: unknown) =>
  Promise.resolve(new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } }))

describe('login', () => {
  it('posts the credentials and returns the token and user', async () => {
    let seen: { url: string; body: unknown } | null = null
    const r = await login('http://h:3000', 'alice', 'pw', (url, init) => {
      seen = { url, body: JSON.parse(String(init?.body)) }
      return json(200, {
        token: 'jwt',
        expiresAt: '2030-01-01T00:00:00Z',
        user: { id: '1', username: 'alice', role: 'admin' },
      })
    })
    expect(seen).toEqual({ url: 'http://h:3000/api/auth/login', body: { username: 'alice', password: 'pw' } })
    expect(r.token).toBe('jwt')
    expect(r.user.role).toBe('admin')
  })

  it.each([
    [401, 'bad-credentials'],
    [403, 'forbidden'],
    [429, 'rate-limited'],
    [404, 'unreachable'],
    [500, 'server-error'],
  ])('HTTP %i is reported as %s', async (status, reason) => {
    const err = await login('http://h', 'a', 'b', () => json(status, { code: 'X', message: 'nope' })).catch(e => e)
    expect(err).toBeInstanceOf(LoginError)
    expect(err.reason).toBe(reason)
  })

  it('a network failure is "unreachable" over http and "certificate" over https', async () => {
    const fail = () => Promise.reject(new TypeError('Failed to fetch'))
    await expect(login('http://h', 'a', 'b', fail)).rejects.toMatchObject({ reason: 'unreachable' })
    await expect(login('https://h', 'a', 'b', fail)).rejects.toMatchObject({ reason: 'certificate' })
  })
})

describe('normaliseServerUrl', () => {
  it('accepts host:port and full URLs, keeps only the origin', () => {
    expect(normaliseServerUrl('hv.example:3000')).toBe('http://hv.example:3000')
    expect(normaliseServerUrl(' https://hv.example/some/path ')).toBe('https://hv.example')
    expect(() => normaliseServerUrl('ftp://x')).toThrow(/http/)
  })
})
