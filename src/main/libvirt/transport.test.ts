// Pure URI handling of the SSH transport: passwords in a URI never travel on.
import { describe, expect, it } from 'vitest'
import { LibvirtConnectionError } from './errors.js'
import { parseUri, redactUri } from './transport.js'

describe('URIs carrying a password', () => {
  it('are refused by parseUri without echoing the password', () => {
    let err: unknown
    try {
      parseUri('qemu+ssh://root:s3cret-pw@example.org:2222/system')
    } catch (e) {
      err = e
    }
    expect(err).toBeInstanceOf(LibvirtConnectionError)
    expect((err as LibvirtConnectionError).reason).toBe('bad-uri')
    expect((err as Error).message).toContain('example.org:2222 carries a password')
    expect((err as Error).message).not.toContain('s3cret')
  })

  it('are redacted by redactUri, up to the last @ of the authority, and other URIs are left alone', () => {
    expect(redactUri('qemu+ssh://root:s3cret@h:22/system')).toBe('qemu+ssh://root:***@h:22/system')
    expect(redactUri('qemu+ssh://u:p@ss@h/system?x=a:b@c')).toBe('qemu+ssh://u:***@h/system?x=a:b@c')
    for (const u of [
      'qemu:///system',
      'qemu+ssh://root@h:22/system',
      'qemu+ssh://h:22/system?socket=/a:b@c',
      'qemu+ssh://u@[::1]:22/system',
    ])
      expect(redactUri(u)).toBe(u)
  })
})
