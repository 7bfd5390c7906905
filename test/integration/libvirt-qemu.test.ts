// The libvirt client against a real TCG guest on qemu:///system: status,
// live XML, stats, every control action with its lifecycle event, and the
// serial console as a stream.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { randomBytes } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import {
  DomainState,
  DomainStats,
  ErrorCode,
  LibvirtClient,
  LibvirtError,
  LifecycleEvent,
  ShutdownDetail,
  StoppedDetail,
  type LibvirtStream,
} from '../../src/main/libvirt/index.js'
import { defineTestGuest, guestImagesReady, removeDomain, virsh, type TestGuest } from '../fixtures/guest.js'
import { recordEvents, type EventLog } from './libvirt-helpers.js'

const NAME = `voidvm-t-lv-g${process.pid}`
const THROWAWAY = `voidvm-t-lv-def${process.pid}`
const VNC_PASSWORD = 'lvpw4x7q' // QEMU allows at most 8 characters

/** Collects a stream's output and waits for text in it. */
function tap(stream: LibvirtStream) {
  const t = { out: '' }
  stream.on('data', (d: Buffer) => void (t.out += d.toString('utf8')))
  return {
    get text() {
      return t.out
    },
    reset() {
      t.out = ''
    },
    async waitFor(re: RegExp, timeoutMs = 20_000, poke?: () => void): Promise<RegExpExecArray> {
      const end = Date.now() + timeoutMs
      let lastPoke = 0
      for (;;) {
        const m = re.exec(t.out)
        if (m) return m
        if (Date.now() > end) throw new Error(`console never showed ${re}; got: ${JSON.stringify(t.out.slice(-500))}`)
        if (poke && Date.now() - lastPoke > 1000) {
          lastPoke = Date.now()
          poke()
        }
        await new Promise(r => setTimeout(r, 50))
      }
    },
  }
}

/** The guest's init starts acpid ~1 s after boot; ACPI requests before that are ignored. */
async function waitAcpid(stream: LibvirtStream, con: ReturnType<typeof tap>): Promise<void> {
  const marker = `acpi-${randomBytes(3).toString('hex')}`
  await con.waitFor(new RegExp(`${marker}-9\\r?\\n`), 30_000, () =>
    stream.write(`test -f /tmp/acpid.pid && echo ${marker}-$((3*3))\n`),
  )
}

describe.skipIf(!guestImagesReady())('libvirt client on qemu:///system with a real TCG guest', () => {
  let lv: LibvirtClient
  let guest: TestGuest
  let events: EventLog
  let console1: LibvirtStream | undefined

  beforeAll(async () => {
    guest = await defineTestGuest({ name: NAME, vncPassword: VNC_PASSWORD })
    lv = await LibvirtClient.connect('qemu:///system')
    events = recordEvents(lv)
    await lv.registerDomainEvents()
  })

  afterAll(async () => {
    console1?.destroy()
    await lv?.close()
    await guest?.remove()
    await removeDomain(THROWAWAY)
  })

  it('sees the defined guest shut off, with the UUID virsh reports', async () => {
    const doms = await lv.listAllDomains()
    const d = doms.find(x => x.name === NAME)
    expect(d?.uuid).toBe(guest.uuid)
    expect(d?.id).toBe(-1)
    const info = await lv.domainGetInfo(NAME)
    expect(info.state).toBe(DomainState.SHUTOFF)
    expect(info.maxMemKiB).toBe(128 * 1024)
    expect(info.nrVirtCpu).toBe(1)
  })

  it('starts the guest: STARTED event, running state, live id', async () => {
    const d = await lv.domainCreate(NAME)
    expect(d.id).toBeGreaterThan(0)
    await events.waitLifecycle(NAME, LifecycleEvent.STARTED)
    expect(await guest.state()).toBe('running')
    expect((await lv.domainGetState(NAME)).state).toBe(DomainState.RUNNING)
  })

  it('reads the live XML: VNC port matches virsh, the password only with the secure flag', async () => {
    const xml = await lv.domainGetXmlDesc(NAME)
    const port = Number(/<graphics type='vnc' port='(\d+)'/.exec(xml)?.[1])
    expect(port).toBe(await guest.vncPort())
    expect(xml).not.toContain(VNC_PASSWORD)
    const secure = await lv.domainGetXmlDesc(NAME, { secure: true })
    expect(secure).toContain(`passwd='${VNC_PASSWORD}'`)
  })

  it('round-trips a command through the serial console stream', async () => {
    console1 = await lv.openConsole(NAME)
    const con = tap(console1)
    const marker = `lv-${randomBytes(4).toString('hex')}`
    // The shell computes the second half, so only a shell that ran the line prints it.
    const m = await con.waitFor(new RegExp(`${marker}-42\\r?\\n`), 30_000, () =>
      console1!.write(`echo ${marker}-$((6*7))\n`),
    )
    expect(m[0]).toContain(`${marker}-42`)
  })

  it('refuses a second console in safe mode and hands it over with force', async () => {
    const err = await lv.openConsole(NAME).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LibvirtError)
    expect((err as Error).message).toMatch(/console/i)
    const ended = new Promise<string>(r => {
      console1!.once('end', () => r('end'))
      console1!.once('error', () => r('error'))
      console1!.once('close', () => r('close'))
    })
    const forced = await lv.openConsole(NAME, null, { force: true })
    expect(await ended).toMatch(/end|error|close/)
    const con = tap(forced)
    const marker = `lvf-${randomBytes(4).toString('hex')}`
    await con.waitFor(new RegExp(`${marker}-42\\r?\\n`), 20_000, () => forced.write(`echo ${marker}-$((6*7))\n`))
    console1 = forced
  })

  it('ending the console (finish) releases it: a safe-mode console opens again', async () => {
    const old = console1!
    const finished = new Promise<void>(r => old.once('finish', () => r()))
    old.end()
    await finished
    const again = await lv.openConsole(NAME)
    const con = tap(again)
    const marker = `lve-${randomBytes(4).toString('hex')}`
    await con.waitFor(new RegExp(`${marker}-42\\r?\\n`), 20_000, () => again.write(`echo ${marker}-$((6*7))\n`))
    console1 = again
  })

  it('returns all-domain stats with cpu, balloon, interface and block figures', async () => {
    const recs = await lv.getAllDomainStats(
      DomainStats.STATE | DomainStats.CPU_TOTAL | DomainStats.BALLOON | DomainStats.INTERFACE | DomainStats.BLOCK,
    )
    const r = recs.find(x => x.domain.name === NAME)
    expect(r).toBeDefined()
    const p = r!.params
    expect(p['state.state']).toBe(DomainState.RUNNING)
    expect(typeof p['cpu.time']).toBe('bigint')
    expect(p['cpu.time'] as bigint).toBeGreaterThan(0n)
    expect(p['balloon.maximum']).toBe(131072n)
    expect(p['net.count']).toBe(1)
    expect(p['net.0.name']).toMatch(/^vv/)
    expect(typeof p['net.0.rx.bytes']).toBe('bigint')
    expect(p['block.count']).toBe(1)
    expect(p['block.0.name']).toBe('vda')
    expect(p['block.0.capacity']).toBe(16n * 1024n * 1024n)
    expect(p['block.0.rd.bytes'] as bigint).toBeGreaterThan(0n)
  })

  it('answers interface-address queries with typed results or typed errors', async () => {
    // An ethernet (tap) NIC has no libvirt DHCP lease: an empty list, not an error.
    expect(await lv.domainInterfaceAddresses(NAME, 0)).toEqual([])
    // No guest agent channel is defined: the daemon says so with a typed error.
    const err = await lv.domainInterfaceAddresses(NAME, 1).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LibvirtError)
    expect((err as Error).message).toMatch(/agent/i)
  })

  it('suspends and resumes with events and states', async () => {
    await lv.domainSuspend(NAME)
    await events.waitLifecycle(NAME, LifecycleEvent.SUSPENDED)
    expect(await guest.state()).toBe('paused')
    await lv.domainResume(NAME)
    await events.waitLifecycle(NAME, LifecycleEvent.RESUMED)
    expect(await guest.state()).toBe('running')
  })

  it('resets the guest: a reboot event, and the guest boots again on the console', async () => {
    const con = tap(console1!)
    events.clear()
    await lv.domainReset(NAME)
    await events.waitReboot(NAME)
    await con.waitFor(/voidvm test guest ready/, 30_000)
    expect((await lv.domainGetState(NAME)).state).toBe(DomainState.RUNNING)
  })

  it('reboots the guest gracefully: a reboot event, and it comes back', async () => {
    const con = tap(console1!)
    events.clear()
    await waitAcpid(console1!, con)
    con.reset()
    await lv.domainReboot(NAME)
    await events.waitReboot(NAME, 40_000)
    await con.waitFor(/voidvm test guest ready/, 30_000)
    expect(await guest.state()).toBe('running')
  })

  it('shuts the guest down via ACPI: SHUTDOWN and STOPPED events, shut off', async () => {
    events.clear()
    await waitAcpid(console1!, tap(console1!))
    await lv.domainShutdown(NAME)
    const stopped = await events.waitLifecycle(NAME, LifecycleEvent.STOPPED, 60_000)
    expect(stopped.detail).toBe(StoppedDetail.SHUTDOWN)
    const shutdown = events.lifecycle.find(e => e.domain.name === NAME && e.event === LifecycleEvent.SHUTDOWN)
    expect(shutdown?.detail).toBeOneOf([ShutdownDetail.FINISHED, ShutdownDetail.GUEST, ShutdownDetail.HOST])
    expect(await guest.state()).toBe('shut off')
    console1?.destroy()
    console1 = undefined
  })

  it('starts again and destroys: STARTED, then STOPPED (destroyed); an open console ends', async () => {
    events.clear()
    await lv.domainCreate(NAME)
    await events.waitLifecycle(NAME, LifecycleEvent.STARTED)
    const con = await lv.openConsole(NAME)
    con.resume()
    const ended = new Promise<string>(r => {
      con.once('end', () => r('end'))
      con.once('error', e => r(`error: ${e.message}`))
    })
    await lv.domainDestroy(NAME)
    const stopped = await events.waitLifecycle(NAME, LifecycleEvent.STOPPED)
    expect(stopped.detail).toBe(StoppedDetail.DESTROYED)
    expect((await lv.domainGetInfo(NAME)).state).toBe(DomainState.SHUTOFF)
    expect(await ended).toBe('end')
    // The connection is unaffected, and a console on a stopped domain is refused with a typed error.
    const err = await lv.openConsole(NAME).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LibvirtError)
    expect((err as LibvirtError).code).toBe(ErrorCode.OPERATION_INVALID)
  })

  it('defines and undefines a throwaway domain with DEFINED / UNDEFINED events', async () => {
    events.clear()
    const xml = (await lv.domainGetXmlDesc(NAME, { inactive: true }))
      .replace(/<name>[^<]+<\/name>/, `<name>${THROWAWAY}</name>`)
      .replace(/<uuid>[^<]+<\/uuid>/, '')
      .replace(/<interface[\s\S]*?<\/interface>/, '')
    const d = await lv.domainDefineXml(xml)
    expect(d.name).toBe(THROWAWAY)
    await events.waitLifecycle(THROWAWAY, LifecycleEvent.DEFINED)
    expect(await virsh('domstate', THROWAWAY)).toBe('shut off')
    await lv.domainUndefine(d)
    await events.waitLifecycle(THROWAWAY, LifecycleEvent.UNDEFINED)
    await expect(virsh('domstate', THROWAWAY)).rejects.toThrow(/failed to get domain|not found/i)
  })

  it('reads host facts from the qemu driver', async () => {
    const node = await lv.nodeGetInfo()
    expect(node.cpus).toBeGreaterThan(0)
    const mem = await lv.nodeGetMemoryStats()
    expect(mem.total).toBeGreaterThan(0n)
    const meminfo = await readFile('/proc/meminfo', 'utf8')
    expect(mem.total).toBe(BigInt(/MemTotal:\s+(\d+) kB/.exec(meminfo)![1]!))
    expect(await lv.getUri()).toBe('qemu:///system')
  })
})
