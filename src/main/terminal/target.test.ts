import { describe, expect, it } from 'vitest'
import { parseSshMetadata, pickAddress, resolveSshTarget } from './target.js'

const dom = (meta: string) => `<domain type='qemu'><name>x</name><metadata>${meta}</metadata><devices/></domain>`

describe('SSH target resolution', () => {
  it('reads the voidvm:ssh element whatever its prefix, and ignores foreign namespaces', () => {
    expect(
      parseSshMetadata(dom(`<voidvm:ssh xmlns:voidvm="https://voidvm.dev/xmlns/1" host="127.0.0.1" port="2222"/>`)),
    ).toEqual({ host: '127.0.0.1', port: 2222 })
    expect(parseSshMetadata(dom(`<v:ssh xmlns:v='https://voidvm.dev/xmlns/1' host='vm.example' />`))).toEqual({
      host: 'vm.example',
    })
    expect(parseSshMetadata(dom(`<o:ssh xmlns:o="https://other.example/ns" host="10.9.9.9"/>`))).toBeUndefined()
    expect(parseSshMetadata(`<domain><name>x</name></domain>`)).toBeUndefined()
  })

  it('refuses a metadata element with a bad host or port instead of guessing', () => {
    expect(() =>
      parseSshMetadata(dom(`<voidvm:ssh xmlns:voidvm="https://voidvm.dev/xmlns/1" host="a b" port="22"/>`)),
    ).toThrow(/valid host/)
    expect(() =>
      parseSshMetadata(dom(`<voidvm:ssh xmlns:voidvm="https://voidvm.dev/xmlns/1" host="h" port="99999"/>`)),
    ).toThrow(/invalid port/)
  })

  it('prefers IPv4 and skips link-local IPv6', () => {
    expect(pickAddress(['fe80::1', '2001:db8::5', '192.168.122.7'])).toBe('192.168.122.7')
    expect(pickAddress(['fe80::1', '2001:db8::5'])).toBe('2001:db8::5')
    expect(pickAddress(['fe80::1'])).toBeUndefined()
  })

  it('uses metadata first, else interface addresses, and never a client-chosen host', async () => {
    const withMeta = {
      xml: async () => dom(`<voidvm:ssh xmlns:voidvm="https://voidvm.dev/xmlns/1" host="127.0.0.1" port="2022"/>`),
      interfaceAddresses: async () => ['10.0.0.5'],
    }
    expect(await resolveSshTarget(withMeta, 'x')).toEqual({ host: '127.0.0.1', port: 2022, source: 'metadata' })
    await expect(resolveSshTarget(withMeta, 'x', 22)).rejects.toMatchObject({
      code: 'INVALID_MESSAGE',
      extra: { field: 'data.port' },
    })
    const noMeta = { xml: async () => dom(''), interfaceAddresses: async () => ['fe80::2', '10.0.0.5'] }
    expect(await resolveSshTarget(noMeta, 'x', 2200)).toEqual({ host: '10.0.0.5', port: 2200, source: 'interface' })
    const nothing = { xml: async () => dom(''), interfaceAddresses: async () => [] }
    await expect(resolveSshTarget(nothing, 'x')).rejects.toMatchObject({
      code: 'TERMINAL_CONNECT_FAILED',
      extra: { details: 'no-address' },
    })
  })
})
