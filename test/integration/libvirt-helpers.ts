/** Helpers shared by the libvirt client tests (not a test file itself). */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import type { LifecycleEventData, RebootEventData } from '../../src/main/libvirt/index.js'

/**
 * Runs virsh commands on the daemon's test driver, as one batch. One virsh
 * process per batch: the test driver's state lives only while a connection
 * holds it (the server under test keeps one open between batches).
 */
export async function testDriverVirsh(...cmds: string[]): Promise<string> {
  const { stdout } = await promisify(execFile)('virsh', ['-c', 'test+unix:///default', cmds.join(' ; ')], {
    timeout: 60_000,
  })
  return stdout
}

export interface EventLog {
  lifecycle: LifecycleEventData[]
  reboot: RebootEventData[]
  /** Resolves with the first (already seen or future) lifecycle event of `name` matching. */
  waitLifecycle(name: string, event: number, timeoutMs?: number): Promise<LifecycleEventData>
  waitReboot(name: string, timeoutMs?: number): Promise<RebootEventData>
  /** Forgets what was seen so far. */
  clear(): void
}

/** LibvirtClient or ReconnectingLibvirt: anything emitting the domain events. */
export interface DomainEventSource {
  on(event: 'lifecycle', listener: (e: LifecycleEventData) => void): unknown
  on(event: 'reboot', listener: (e: RebootEventData) => void): unknown
}

export function recordEvents(src: DomainEventSource): EventLog {
  const log: EventLog = {
    lifecycle: [],
    reboot: [],
    clear() {
      log.lifecycle.length = 0
      log.reboot.length = 0
    },
    waitLifecycle(name, event, timeoutMs = 20_000) {
      return poll(
        () => log.lifecycle.find(e => e.domain.name === name && e.event === event),
        timeoutMs,
        () =>
          `lifecycle event ${event} for ${name}; seen: ${JSON.stringify(log.lifecycle.map(e => [e.domain.name, e.event, e.detail]))}`,
      )
    },
    waitReboot(name, timeoutMs = 20_000) {
      return poll(
        () => log.reboot.find(e => e.domain.name === name),
        timeoutMs,
        () => `reboot event for ${name}`,
      )
    },
  }
  src.on('lifecycle', e => void log.lifecycle.push(e))
  src.on('reboot', e => void log.reboot.push(e))
  return log
}

async function poll<T>(find: () => T | undefined, timeoutMs: number, what: () => string): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = find()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what()}`)
    await new Promise(r => setTimeout(r, 50))
  }
}

/** A minimal test-driver domain. */
export function testDriverXml(name: string): string {
  return `<domain type='test'><name>${name}</name><memory unit='MiB'>64</memory><vcpu>1</vcpu><os><type>hvm</type></os></domain>`
}
