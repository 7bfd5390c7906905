import { afterEach, describe, expect, it, vi } from 'vitest'
import { AddressCounter, addressKey, DEFAULT_LIMITS, LoginThrottle, TokenBucket } from './limits.js'
import { globToRegExp, grantsMatch } from './users.js'
import { parseTtl } from './auth.js'
import { redact } from './log.js'

afterEach(() => {
  vi.useRealTimers()
})

describe('TokenBucket', () => {
  it('allows a burst, then refills at the rate', () => {
    vi.useFakeTimers()
    const b = new TokenBucket(10, 5)
    for (let i = 0; i < 5; i++) expect(b.take()).toBe(true)
    expect(b.take()).toBe(false)
    vi.advanceTimersByTime(300)
    expect(b.take()).toBe(true)
    expect(b.take()).toBe(true)
    expect(b.take()).toBe(true)
    expect(b.take()).toBe(false)
  })
})

describe('LoginThrottle', () => {
  it('locks a user out after N failures, doubling the lockout, and a success clears it', () => {
    vi.useFakeTimers()
    const t = new LoginThrottle({ ...DEFAULT_LIMITS, loginFailuresPerUser: 3, loginLockoutMs: 1000 })
    for (let i = 0; i < 2; i++) t.fail('1.2.3.4', 'Bob')
    expect(t.retryAfter('1.2.3.4', 'bob')).toBe(0)
    t.fail('1.2.3.4', 'bob')
    expect(t.retryAfter('5.6.7.8', 'BOB')).toBe(1000)
    t.fail('1.2.3.4', 'bob')
    expect(t.retryAfter('5.6.7.8', 'bob')).toBe(2000)
    expect(t.retryAfter('5.6.7.8', 'alice')).toBe(0)
    t.succeed('1.2.3.4', 'bob')
    expect(t.retryAfter('1.2.3.4', 'bob')).toBe(0)
  })

  it('locks an address spraying many user names', () => {
    const t = new LoginThrottle({ ...DEFAULT_LIMITS, loginFailuresPerAddress: 4 })
    for (let i = 0; i < 4; i++) t.fail('9.9.9.9', `user${i}`)
    expect(t.retryAfter('9.9.9.9', 'someone-else')).toBeGreaterThan(0)
    expect(t.retryAfter('8.8.8.8', 'someone-else')).toBe(0)
  })
})

describe('grants', () => {
  it('match VM names by glob: * any run, ? one character, the rest literal', () => {
    expect(grantsMatch(['*'], 'anything')).toBe(true)
    expect(grantsMatch(['web-*'], 'web-1')).toBe(true)
    expect(grantsMatch(['web-*'], 'db-1')).toBe(false)
    expect(grantsMatch(['vm?'], 'vm1')).toBe(true)
    expect(grantsMatch(['vm?'], 'vm10')).toBe(false)
    expect(grantsMatch(['a.b'], 'axb')).toBe(false)
    expect(grantsMatch(['(x)+'], '(x)+')).toBe(true)
    expect(grantsMatch([], 'x')).toBe(false)
    expect(globToRegExp('web-*').source).toBe('^web-.*$')
  })
})

describe('parseTtl', () => {
  it('reads s/m/h/d and bare seconds, refusing nonsense', () => {
    expect(parseTtl('90')).toBe(90)
    expect(parseTtl('15m')).toBe(900)
    expect(parseTtl('12h')).toBe(43200)
    expect(parseTtl('7d')).toBe(604800)
    expect(() => parseTtl('0')).toThrow(/invalid TTL/)
    expect(() => parseTtl('1y')).toThrow(/invalid TTL/)
    expect(() => parseTtl('400d')).toThrow(/invalid TTL/)
  })
})

describe('redact', () => {
  it('masks secret-looking fields at any depth', () => {
    expect(redact({ user: 'a', password: 'p', nested: { token: 't', list: [{ privateKey: 'k', ok: 1 }] } })).toEqual({
      user: 'a',
      password: '[redacted]',
      nested: { token: '[redacted]', list: [{ privateKey: '[redacted]', ok: 1 }] },
    })
  })
})

describe('AddressCounter', () => {
  it('caps slots per address, frees them on release, and 0 means no cap', () => {
    const c = new AddressCounter(2)
    expect(c.tryTake('10.0.0.1')).toBe(true)
    expect(c.tryTake('10.0.0.1')).toBe(true)
    expect(c.tryTake('10.0.0.1')).toBe(false)
    expect(c.count('10.0.0.1')).toBe(2)
    expect(c.tryTake('10.0.0.2')).toBe(true)
    c.release('10.0.0.1')
    expect(c.tryTake('10.0.0.1')).toBe(true)
    c.release('10.0.0.2')
    expect(c.count('10.0.0.2')).toBe(0)
    const open = new AddressCounter(0)
    for (let i = 0; i < 1000; i++) expect(open.tryTake('127.0.0.1')).toBe(true)
  })

  it('counts an IPv4-mapped IPv6 address as its IPv4 address', () => {
    expect(addressKey('::ffff:127.0.0.1')).toBe('127.0.0.1')
    expect(addressKey('::FFFF:10.1.2.3')).toBe('10.1.2.3')
    expect(addressKey('::1')).toBe('::1')
    expect(addressKey('2001:db8::1')).toBe('2001:db8::1')
    expect(addressKey(undefined)).toBe('unknown')
  })

  it('defaults to 64 per address', () => {
    expect(DEFAULT_LIMITS.maxConnectionsPerAddress).toBe(64)
  })
})
