// The VmDirectory the VNC and terminal bridges use, against a real guest on
// the system libvirtd: lookup by name and UUID, live XML with and without
// secrets, the serial console as a byte stream (a command typed there runs in
// the guest's shell), interface addresses, and VM-gone notifications.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { defineTestGuest, guestImagesReady, waitFor, type TestGuest } from '../fixtures/guest.js'
import { ApiError, type BridgeContext, type Bridge, type VmDirectory } from '../../src/main/server/bridge.js'
import { createHypervisorBridge } from '../../src/main/hypervisor/index.js'

const GUEST = `voidvm-t-hv-dir-${process.pid}`
const PASSWORD = 'hvpw4242'

describe.skipIf(!guestImagesReady())('VmDirectory on a real guest', () => {
  let guest: TestGuest
  let bridge: Bridge
  let directory: VmDirectory
  const gone: string[] = []

  beforeAll(async () => {
    guest = await defineTestGuest({ name: GUEST, vncPassword: PASSWORD })
    const quiet = { debug() {}, info() {}, warn() {}, error() {} }
    const ctx: BridgeContext = { broadcast() {}, dataDir: '/nonexistent', locale: 'en', audit() {}, log: quiet }
    ;({ bridge, directory } = await createHypervisorBridge(ctx, { uri: 'qemu:///system' }))
    directory.onVmGone(name => gone.push(name))
  })

  afterAll(async () => {
    await bridge?.close?.()
    await guest?.remove()
  })

  it('resolves by name and by UUID; an unknown VM is VM_NOT_FOUND', async () => {
    expect(await directory.resolve(GUEST)).toEqual({ name: GUEST, uuid: guest.uuid, status: 'stopped' })
    expect((await directory.resolve(guest.uuid)).name).toBe(GUEST)
    const err = await directory.resolve('voidvm-t-hv-nope').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ApiError)
    expect((err as ApiError).code).toBe('VM_NOT_FOUND')
  })

  it('gives the live XML, with the VNC password only when asked for secrets', async () => {
    await guest.start()
    expect((await directory.resolve(GUEST)).status).toBe('running')
    const plain = await directory.xml(GUEST)
    const secure = await directory.xml(GUEST, { secure: true })
    expect(plain).toMatch(/<graphics type=.vnc. port=.59\d\d/)
    expect(plain).not.toContain(PASSWORD)
    expect(secure).toContain(`passwd='${PASSWORD}'`)
  })

  it('opens the serial console as a byte stream that reaches the guest shell', async () => {
    const con = await directory.openConsole(GUEST)
    let out = ''
    con.on('data', (d: Buffer) => (out += d.toString('latin1')))
    try {
      // The guest boots in a few seconds; type until its shell answers.
      await waitFor(
        () => {
          con.write('echo hv-marker-$((6*7))\n')
          return out.includes('hv-marker-42') ? true : undefined
        },
        40_000,
        'the serial shell to answer',
      )
    } finally {
      con.destroy()
    }
  })

  it('lists interface addresses (none known for an unconfigured tap), without failing', async () => {
    const addrs = await directory.interfaceAddresses(GUEST)
    expect(Array.isArray(addrs)).toBe(true)
    for (const a of addrs) expect(a).toMatch(/^[0-9a-f.:]+$/i)
  })

  it('tells listeners when the VM stops', async () => {
    await guest.destroy()
    await waitFor(() => (gone.includes(GUEST) ? true : undefined), 10_000, 'the vm-gone notification')
  })
})
