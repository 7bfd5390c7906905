/**
 * `npm run bench -- libvirt`: DOMAIN_GET_INFO round trips and one all-domain
 * stats call over a long-lived TypeScript client, side by side with
 * `virsh -c qemu:///system dominfo` / `domstats` run as processes (what a
 * shell-out implementation pays per call). Prints medians and ratios; the last
 * line is `RESULT libvirt-info-speedup-vs-virsh <ratio>`.
 *
 * Options: --info N (client info calls, default 2000), --virsh N (virsh runs, default 30).
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { LibvirtClient } from '../src/main/libvirt/index.js'
import { defineTestGuest, guestImagesReady, type TestGuest } from '../test/fixtures/guest.js'

const run = promisify(execFile)
const URI = 'qemu:///system'

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`)
  const v = i >= 0 ? Number(process.argv[i + 1]) : def
  return Number.isFinite(v) && v > 0 ? v : def
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2
}

function p95(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(s.length * 0.95))]!
}

async function time<T>(fn: () => Promise<T>): Promise<number> {
  const t0 = process.hrtime.bigint()
  await fn()
  return Number(process.hrtime.bigint() - t0) / 1e6
}

async function sample(n: number, fn: () => Promise<unknown>): Promise<number[]> {
  const out: number[] = []
  for (let i = 0; i < n; i++) out.push(await time(fn))
  return out
}

const fmt = (ms: number) => `${ms < 1 ? ms.toFixed(3) : ms.toFixed(2)} ms`

async function main(): Promise<void> {
  const infoN = arg('info', 2000)
  const virshN = arg('virsh', 30)
  let guest: TestGuest | undefined
  let name: string
  if (guestImagesReady()) {
    guest = await defineTestGuest({ name: `voidvm-t-lv-bench${process.pid}` })
    await guest.start()
    name = guest.name
  } else {
    // No guest images: measure against whatever domain exists.
    const { stdout } = await run('virsh', ['-c', URI, 'list', '--all', '--name'])
    const first = stdout.split('\n').find(Boolean)
    if (!first) throw new Error('no domain on qemu:///system to measure and no guest images to make one')
    name = first
  }
  const lv = await LibvirtClient.connect(URI)
  try {
    const dom = await lv.lookupDomain(name)
    const domCount = (await lv.listAllDomains()).length
    console.log(
      `libvirt bench on ${URI}: domain ${name} (${guest ? 'running test guest' : 'existing'}), ${domCount} domain(s)`,
    )

    // Warm both sides.
    for (let i = 0; i < 50; i++) await lv.domainGetInfo(dom)
    await run('virsh', ['-c', URI, 'dominfo', name])

    // Interleaved, so both sides see the same load on this shared machine.
    const clientInfo: number[] = []
    const virshInfo: number[] = []
    const perRound = Math.max(1, Math.round(infoN / virshN))
    for (let i = 0; i < virshN; i++) {
      virshInfo.push(await time(() => run('virsh', ['-c', URI, 'dominfo', name])))
      clientInfo.push(...(await sample(perRound, () => lv.domainGetInfo(dom))))
    }
    const clientStats: number[] = []
    const virshStats: number[] = []
    const statsRounds = Math.max(10, Math.round(virshN / 2))
    for (let i = 0; i < statsRounds; i++) {
      virshStats.push(await time(() => run('virsh', ['-c', URI, 'domstats'])))
      clientStats.push(...(await sample(5, () => lv.getAllDomainStats())))
    }
    const coldClient = await sample(20, async () => {
      const c = await LibvirtClient.connect(URI, { keepaliveIntervalMs: 0 })
      await c.domainGetInfo(name)
      await c.close()
    })

    const rows: Array<[string, number[]]> = [
      [`client DOMAIN_GET_INFO (n=${clientInfo.length})`, clientInfo],
      [`virsh dominfo process (n=${virshN})`, virshInfo],
      [`client CONNECT_GET_ALL_DOMAIN_STATS (n=${clientStats.length})`, clientStats],
      [`virsh domstats process (n=${virshStats.length})`, virshStats],
      [`client connect+info+close, cold (n=20)`, coldClient],
    ]
    for (const [label, xs] of rows)
      console.log(`${label.padEnd(48)} median ${fmt(median(xs)).padStart(10)}   p95 ${fmt(p95(xs)).padStart(10)}`)
    const infoRatio = median(virshInfo) / median(clientInfo)
    const statsRatio = median(virshStats) / median(clientStats)
    const coldRatio = median(virshInfo) / median(coldClient)
    console.log(`ratio info   (virsh dominfo / client):          ${infoRatio.toFixed(1)}x`)
    console.log(`ratio stats  (virsh domstats / client):         ${statsRatio.toFixed(1)}x`)
    console.log(`ratio cold   (virsh dominfo / client connect+info+close): ${coldRatio.toFixed(1)}x`)
    console.log(`RESULT libvirt-info-speedup-vs-virsh ${infoRatio.toFixed(1)}`)
  } finally {
    await lv.close()
    await guest?.remove()
  }
}

main().catch(err => {
  console.error(err instanceof Error ? err.message : err)
  process.exit(1)
})
