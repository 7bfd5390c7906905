// Checks that the host setup left what every other integration test needs:
// a libvirtd that boots the TCG test guest with VNC, and a working sshd fixture.
import { afterAll, describe, expect, it } from 'vitest'
import { connect } from 'node:net'
import { defineTestGuest, waitFor, type TestGuest } from '../fixtures/guest.js'
import { startSshd, type TestSshd } from '../fixtures/sshd.js'

function banner(port: number): Promise<string> {
  return new Promise((ok, fail) => {
    const s = connect(port, '127.0.0.1')
    s.setTimeout(5000, () => (s.destroy(), fail(new Error('no banner'))))
    s.once('data', d => (s.destroy(), ok(d.toString('latin1'))))
    s.once('error', fail)
  })
}

describe('test fixtures on this host', () => {
  let guest: TestGuest | undefined
  let sshd: TestSshd | undefined
  afterAll(async () => {
    await guest?.remove()
    await sshd?.stop()
  })

  it('boots the TCG test guest, whose VNC server speaks RFB', async () => {
    guest = await defineTestGuest({ name: 'voidvm-t-fixture' })
    await guest.start()
    expect(await guest.state()).toBe('running')
    const port = await guest.vncPort()
    const hello = await waitFor(() => banner(port), 10_000, 'VNC banner')
    expect(hello).toMatch(/^RFB 003\.00[378]\n/)
  })

  it('runs sshd on a loopback port with its own host key', async () => {
    sshd = await startSshd()
    expect(await banner(sshd.port)).toMatch(/^SSH-2\.0-OpenSSH/)
    expect(sshd.hostKeyFingerprint).toMatch(/^SHA256:/)
  })
})
