import { describe, expect, it } from 'vitest'
import { IPC, IPC_ARGS, IpcRejected, createIpcRouter, parseIpcArgs, validateSender, type IpcHandlers } from './ipc.js'
import { APP_ENTRY_URL } from './security.js'

const FP = 'AB:'.repeat(31) + 'CD'
const appPage = { frameUrl: APP_ENTRY_URL, isMainFrame: true }

function recordingHandlers(calls: unknown[][]): IpcHandlers {
  const h = {} as Record<string, (...a: unknown[]) => unknown>
  for (const ch of Object.values(IPC)) {
    h[ch] = (...args: unknown[]) => {
      calls.push([ch, ...args])
      return `ok:${ch}`
    }
  }
  return h as unknown as IpcHandlers
}

describe('IPC argument validation', () => {
  it('declares a schema for every channel the preload uses', () => {
    expect(Object.keys(IPC_ARGS).sort()).toEqual(Object.values(IPC).sort())
  })

  it('accepts a well-formed profile and normalises the fingerprint', () => {
    const [p] = parseIpcArgs(IPC.profilesSave, [
      {
        name: ' Lab ',
        url: 'https://lab.example:3443',
        username: 'alice',
        token: 't',
        certificateFingerprint: FP.toLowerCase(),
      },
    ])
    expect(p.name).toBe('Lab')
    expect(p.certificateFingerprint).toBe(FP)
  })

  it.each([
    [[{ name: 'x', url: 'file:///etc/passwd' }], 'argument 0.url'],
    [[{ name: 'x', url: 'https://user:pw@h/' }], 'argument 0.url'],
    [[{ name: '', url: 'https://h/' }], 'argument 0.name: the name must not be empty'],
    [[{ name: 'x', url: 'https://h/', admin: true }], 'admin'],
    [[{ name: 'x', url: 'https://h/', certificateFingerprint: 'abc' }], 'SHA-256 fingerprint'],
    [[{ name: 'x', url: 'https://h/', token: 'a'.repeat(9000) }], 'argument 0.token'],
    [[], 'arguments'],
    ['not-an-array-item', 'argument 0'],
  ])('rejects bad profile input %j naming the field', (arg, expected) => {
    const args = Array.isArray(arg) ? arg : [arg]
    expect(() => parseIpcArgs(IPC.profilesSave, args)).toThrow(IpcRejected)
    expect(() => parseIpcArgs(IPC.profilesSave, args)).toThrow(expected)
  })

  it('rejects extra arguments and bad ids', () => {
    expect(() => parseIpcArgs(IPC.profilesList, ['extra'])).toThrow(/voidvm:profiles:list/)
    expect(() => parseIpcArgs(IPC.profilesRemove, ['../../etc'])).toThrow(/profile id/)
    expect(() => parseIpcArgs(IPC.profilesRemove, [42])).toThrow(IpcRejected)
    expect(() => parseIpcArgs(IPC.profilesTrust, ['p1', 'zz'])).toThrow(/fingerprint/)
    expect(() => parseIpcArgs(IPC.sharingSet, [{ enabled: true, port: 70000 }])).toThrow(/argument 0.port/)
    expect(() => parseIpcArgs(IPC.sharingSet, [{ enabled: 'yes' }])).toThrow(/argument 0.enabled/)
    expect(() => parseIpcArgs(IPC.certificateProbe, ['javascript:alert(1)'])).toThrow(/http\(s\)/)
  })
})

describe('IPC sender validation', () => {
  it('accepts only the app page main frame', () => {
    expect(validateSender(appPage)).toBeNull()
    expect(validateSender({ frameUrl: 'voidvm://app/some/route', isMainFrame: true })).toBeNull()
    expect(validateSender({ frameUrl: APP_ENTRY_URL, isMainFrame: false })).toMatch(/sub-frames/)
    expect(validateSender({ frameUrl: 'https://evil.example/', isMainFrame: true })).toMatch(/not the VoidVM app/)
    expect(validateSender({ frameUrl: 'voidvm://other/', isMainFrame: true })).toMatch(/not the VoidVM app/)
    expect(validateSender({ frameUrl: 'file:///tmp/x.html', isMainFrame: true })).toMatch(/not the VoidVM app/)
    expect(validateSender({ frameUrl: undefined, isMainFrame: true })).toMatch(/not the VoidVM app/)
  })

  it('routes valid calls and never runs a handler for a rejected one', async () => {
    const calls: unknown[][] = []
    const dispatch = createIpcRouter(recordingHandlers(calls))
    await expect(dispatch(appPage, IPC.profilesRemove, ['abc-1'])).resolves.toBe('ok:voidvm:profiles:remove')
    await expect(
      dispatch({ frameUrl: 'https://evil.example/', isMainFrame: true }, IPC.profilesToken, ['abc-1']),
    ).rejects.toThrow(/not the VoidVM app page/)
    await expect(dispatch(appPage, IPC.profilesToken, [{ id: 'abc-1' }])).rejects.toThrow(/argument 0/)
    await expect(dispatch(appPage, 'voidvm:shell:exec', ['rm -rf /'])).rejects.toThrow(/unknown channel/)
    await expect(dispatch(appPage, '__proto__', [])).rejects.toThrow(/unknown channel/)
    expect(calls).toEqual([[IPC.profilesRemove, 'abc-1']])
  })
})
