/**
 * A guest's address from this host's own IPv4 neighbour table, for when
 * libvirt's sources give nothing: the DHCP-lease source only knows
 * libvirt-managed networks, and the ARP source fails on some hosts (libvirt 9
 * answers "wrong nlmsg len" on newer kernels). Only meaningful when the
 * libvirt daemon runs on THIS machine: the local table says nothing about the
 * guests of a remote (SSH) host, so callers gate it with isLocalLibvirtUri().
 */
import { readFile } from 'node:fs/promises'
import { isIP } from 'node:net'
import { parseUri } from '../libvirt/index.js'

export interface NeighbourEntry {
  ip: string
  /** Lower-case, colon-separated. */
  mac: string
  device: string
}

/** ATF_COM: the entry is complete (a MAC is known); incomplete and failed entries lack it. */
const ATF_COM = 0x2
const ZERO_MAC = '00:00:00:00:00:00'
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/

/**
 * Parses /proc/net/arp (a header line, then `IP  HW-type  Flags  HW-address  Mask  Device`
 * per entry). Keeps complete IPv4 entries with a real MAC; skips anything malformed.
 */
export function parseProcNetArp(text: string): NeighbourEntry[] {
  const out: NeighbourEntry[] = []
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    if (f.length < 6) continue
    const [ip = '', , flagsText = '', macText = '', , device = ''] = f
    const flags = Number(flagsText)
    const mac = macText.toLowerCase()
    if (isIP(ip) !== 4 || !Number.isInteger(flags) || !(flags & ATF_COM)) continue
    if (!MAC.test(mac) || mac === ZERO_MAC) continue
    out.push({ ip, mac, device })
  }
  return out
}

/** The MAC addresses of a domain's `<interface>` devices, from its (live) XML, lower-case. */
export function interfaceMacs(domainXml: string): string[] {
  const out: string[] = []
  for (const m of domainXml.matchAll(/<interface\b[\s\S]*?<\/interface>/g)) {
    const mac = /<mac\b[^>]*\baddress\s*=\s*["']([0-9a-fA-F:]+)["']/.exec(m[0])?.[1]?.toLowerCase()
    if (mac && MAC.test(mac) && !out.includes(mac)) out.push(mac)
  }
  return out
}

/** The addresses the table holds for these MACs, in the order of `macs` (the domain's interface order). */
export function addressesForMacs(entries: readonly NeighbourEntry[], macs: readonly string[]): string[] {
  const out: string[] = []
  for (const mac of macs)
    for (const e of entries) if (e.mac === mac.toLowerCase() && !out.includes(e.ip)) out.push(e.ip)
  return out
}

/**
 * Whether a libvirt URI reaches a daemon on this machine: a unix-socket
 * transport with no host part (`qemu:///system`, `qemu+unix:///system`,
 * `?socket=` forms). SSH URIs, and any URI naming a host, are not.
 */
export function isLocalLibvirtUri(uri: string): boolean {
  try {
    const p = parseUri(uri)
    return p.transport === 'unix' && !p.host
  } catch {
    return false
  }
}

/** Reads this host's IPv4 neighbour table; an unreadable table (not Linux, no /proc) is empty. */
export async function readLocalNeighbours(path = '/proc/net/arp'): Promise<NeighbourEntry[]> {
  try {
    return parseProcNetArp(await readFile(path, 'utf8'))
  } catch {
    return []
  }
}
