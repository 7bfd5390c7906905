// The libvirt client against the host's libvirtd, test:///default driver
// (opened through the daemon's unix socket, not in-process).
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import {
  DomainState,
  DomainStats,
  ErrorCode,
  LibvirtClient,
  LibvirtConnectionError,
  LibvirtError,
  LifecycleEvent,
  StoppedDetail,
  isDomainNotFound,
} from '../../src/main/libvirt/index.js'
import { recordEvents, testDriverXml, type EventLog } from './libvirt-helpers.js'

const run = promisify(execFile)
const URI = 'test:///default'
const NAME = `voidvm-t-lv-td-${process.pid}`

async function virshTest(...args: string[]): Promise<string> {
  // Same daemon, same test driver state: virsh via the socket, not in-process.
  const { stdout } = await run('virsh', ['-c', 'test+unix:///default', ...args], { timeout: 30_000 })
  return stdout.trim()
}

describe('libvirt client on test:///default through the daemon', () => {
  let lv: LibvirtClient
  let events: EventLog

  beforeAll(async () => {
    lv = await LibvirtClient.connect(URI)
    events = recordEvents(lv)
    await lv.registerDomainEvents()
  })

  afterAll(async () => {
    try {
      const d = await lv.lookupDomain(NAME)
      await lv.domainDestroy(d).catch(() => undefined)
      await lv.domainUndefine(d).catch(() => undefined)
    } catch {
      // already gone
    }
    await lv.close()
  })

  it('reports the host, URI and version of the daemon', async () => {
    expect(await lv.getUri()).toBe('test:///default')
    expect(await lv.getHostname()).toBe((await run('hostname')).stdout.trim())
    const v = await lv.getLibVersion()
    const virshVersion = (await run('virsh', ['--version'])).stdout.trim().split('.').map(Number)
    expect(v).toBe(virshVersion[0]! * 1_000_000 + virshVersion[1]! * 1000 + virshVersion[2]!)
  })

  it('lists the built-in running "test" domain with the same UUID virsh shows', async () => {
    const doms = await lv.listAllDomains()
    const test = doms.find(d => d.name === 'test')
    expect(test).toBeDefined()
    expect(test!.uuid).toBe(await virshTest('domuuid', 'test'))
    expect(test!.id).toBeGreaterThan(0)
    const byUuid = await lv.lookupDomain(test!.uuid)
    expect(byUuid.name).toBe('test')
    const info = await lv.domainGetInfo('test')
    expect(info.state).toBe(DomainState.RUNNING)
    expect(info.maxMemKiB).toBe(8 * 1024 * 1024)
    expect(info.nrVirtCpu).toBe(2)
    expect(typeof info.cpuTimeNs).toBe('bigint')
    expect((await lv.domainGetState(test!)).state).toBe(DomainState.RUNNING)
  })

  it('reads node info and CPU stats', async () => {
    const node = await lv.nodeGetInfo()
    expect(node.cpus).toBe(16) // the test driver's fixed fake host
    expect(node.model).toBe('i686')
    const cpu = await lv.nodeGetCpuStats()
    expect(Object.keys(cpu).sort()).toEqual(['idle', 'iowait', 'kernel', 'user'])
    expect(typeof cpu.idle).toBe('bigint')
  })

  it('defines, starts, suspends, resumes, destroys and undefines a throwaway domain, with an event for each', async () => {
    const d = await lv.domainDefineXml(testDriverXml(NAME))
    expect(d.name).toBe(NAME)
    expect(d.id).toBe(-1)
    await events.waitLifecycle(NAME, LifecycleEvent.DEFINED)
    expect((await lv.domainGetInfo(d)).state).toBe(DomainState.SHUTOFF)

    const started = await lv.domainCreate(d)
    expect(started.id).toBeGreaterThan(0)
    await events.waitLifecycle(NAME, LifecycleEvent.STARTED)
    expect(await virshTest('domstate', NAME)).toBe('running')

    await lv.domainSuspend(NAME)
    await events.waitLifecycle(NAME, LifecycleEvent.SUSPENDED)
    expect((await lv.domainGetState(NAME)).state).toBe(DomainState.PAUSED)

    await lv.domainResume(NAME)
    await events.waitLifecycle(NAME, LifecycleEvent.RESUMED)
    expect((await lv.domainGetState(NAME)).state).toBe(DomainState.RUNNING)

    const xml = await lv.domainGetXmlDesc(NAME)
    expect(xml).toContain(`<name>${NAME}</name>`)
    expect(xml).toContain(d.uuid)

    await lv.domainDestroy(NAME)
    const stopped = await events.waitLifecycle(NAME, LifecycleEvent.STOPPED)
    expect(stopped.detail).toBe(StoppedDetail.DESTROYED)
    expect(await virshTest('domstate', NAME)).toBe('shut off')

    await lv.domainUndefine(d)
    await events.waitLifecycle(NAME, LifecycleEvent.UNDEFINED)
    await expect(lv.lookupDomain(NAME)).rejects.toSatisfy(isDomainNotFound)
  })

  it('returns typed all-domain stats with 64-bit values as bigint', async () => {
    const recs = await lv.getAllDomainStats(DomainStats.STATE | DomainStats.CPU_TOTAL | DomainStats.BALLOON)
    const test = recs.find(r => r.domain.name === 'test')
    expect(test).toBeDefined()
    expect(test!.params['state.state']).toBe(DomainState.RUNNING)
    const only = await lv.getAllDomainStats(DomainStats.STATE, 0, ['test'])
    expect(only.map(r => r.domain.name)).toEqual(['test'])
  })

  it('fails with a typed not-found error for an unknown domain', async () => {
    const err = await lv.domainGetInfo('voidvm-t-lv-does-not-exist').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LibvirtError)
    expect((err as LibvirtError).code).toBe(ErrorCode.NO_DOMAIN)
    expect((err as LibvirtError).code).toBe(42)
    expect((err as LibvirtError).message).toMatch(/Domain not found/i)
    const byUuid = await lv.lookupDomain('00000000-0000-0000-0000-00000000beef').catch((e: unknown) => e)
    expect(isDomainNotFound(byUuid)).toBe(true)
  })

  it('rejects a bad XML definition with the daemon error, and the connection stays usable', async () => {
    const err = await lv.domainDefineXml('<domain type="test"><name>').catch((e: unknown) => e)
    expect(err).toBeInstanceOf(LibvirtError)
    expect([ErrorCode.XML_ERROR, ErrorCode.XML_DETAIL]).toContain((err as LibvirtError).code)
    expect(await lv.getUri()).toBe('test:///default')
  })

  it('runs many concurrent calls over one connection and matches every reply to its call', async () => {
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, i) => (i % 2 ? lv.getUri() : lv.domainGetState('test'))),
    )
    results.forEach((r, i) => {
      if (i % 2) expect(r).toBe('test:///default')
      else expect(r).toEqual({ state: DomainState.RUNNING, reason: expect.any(Number) })
    })
  })

  it('fails fast with a clear error when the socket is missing', async () => {
    const t0 = Date.now()
    const err = await LibvirtClient.connect('test:///default', {
      socketPath: '/nonexistent/voidvm/libvirt-sock',
    }).catch((e: unknown) => e)
    expect(Date.now() - t0).toBeLessThan(2000)
    expect(err).toBeInstanceOf(LibvirtConnectionError)
    expect((err as LibvirtConnectionError).reason).toBe('ENOENT')
    expect((err as Error).message).toMatch(/\/nonexistent\/voidvm\/libvirt-sock.*does not exist/)
  })

  it('refuses an unsupported URI transport clearly', async () => {
    await expect(LibvirtClient.connect('qemu+tls://host/system')).rejects.toThrow(/transport "tls" is not supported/)
  })

  it('closes cleanly: close() resolves, the close event has no error, later calls fail clearly', async () => {
    const c = await LibvirtClient.connect(URI)
    const closed = new Promise<Error | undefined>(r => c.once('close', r))
    await c.close()
    expect(await closed).toBeUndefined()
    expect(c.isOpen).toBe(false)
    await expect(c.getUri()).rejects.toBeInstanceOf(LibvirtConnectionError)
  })
})
