/**
 * Where an SSH session goes. The address always comes from the VM, never from
 * the client (a client-chosen host would let any console user make the server
 * connect anywhere — SSRF): first the domain's metadata element
 * `<voidvm:ssh xmlns:voidvm="https://voidvm.dev/xmlns/1" host="…" port="…"/>`
 * (a VM behind NAT or a port forward), else libvirt's interface addresses
 * (DHCP lease, then ARP), first IPv4. The client's optional `port` only applies
 * to the guest's own addresses; a metadata endpoint is fixed by its owner.
 */
import { isIP } from 'node:net'
import { connectFailed, TerminalError } from './errors.js'

export const VOIDVM_XMLNS = 'https://voidvm.dev/xmlns/1'

export interface SshEndpoint {
  host: string
  port?: number
}

export interface SshTarget {
  host: string
  port: number
  source: 'metadata' | 'interface'
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" }

function decodeXmlAttr(v: string): string {
  return v.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_m, e: string) => {
    if (e[0] === '#')
      return String.fromCodePoint(e[1] === 'x' || e[1] === 'X' ? parseInt(e.slice(2), 16) : Number(e.slice(1)))
    return XML_ENTITIES[e.toLowerCase()] ?? ''
  })
}

function attrs(tag: string): Map<string, string> {
  const out = new Map<string, string>()
  for (const m of tag.matchAll(/([\w:.-]+)\s*=\s*("([^"]*)"|'([^']*)')/g)) {
    out.set(m[1] ?? '', decodeXmlAttr(m[3] ?? m[4] ?? ''))
  }
  return out
}

const HOSTNAME = /^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*$/i

/**
 * Reads the VoidVM ssh metadata element from a domain XML, whatever prefix it
 * was written with. Returns undefined when absent; throws when present but
 * unusable, so a typo is reported instead of silently falling back.
 */
export function parseSshMetadata(domainXml: string): SshEndpoint | undefined {
  const meta = /<metadata\b[^>]*>([\s\S]*?)<\/metadata>/.exec(domainXml)?.[1]
  if (!meta) return undefined
  for (const m of meta.matchAll(/<(?:([\w.-]+):)?ssh\b([^>]*?)\/?>/g)) {
    const prefix = m[1]
    const a = attrs(m[2] ?? '')
    const ns = prefix ? a.get(`xmlns:${prefix}`) : a.get('xmlns')
    if (ns !== VOIDVM_XMLNS) continue
    const host = (a.get('host') ?? '').trim().replace(/^\[(.*)\]$/, '$1')
    if (!host || (!isIP(host) && !HOSTNAME.test(host)))
      throw new TerminalError(
        'TERMINAL_CONNECT_FAILED',
        `the VM's voidvm:ssh metadata has no valid host attribute (got "${host}"); fix the domain metadata`,
        { details: 'no-address' },
      )
    const portText = a.get('port')
    if (portText === undefined) return { host }
    const port = Number(portText)
    if (!Number.isInteger(port) || port < 1 || port > 65535)
      throw new TerminalError(
        'TERMINAL_CONNECT_FAILED',
        `the VM's voidvm:ssh metadata has an invalid port "${portText}" (1–65535); fix the domain metadata`,
        { details: 'no-address' },
      )
    return { host, port }
  }
  return undefined
}

/** Picks the first IPv4 address, else the first usable IPv6 one (link-local needs a zone we do not have). */
export function pickAddress(addresses: readonly string[]): string | undefined {
  const v4 = addresses.find(a => isIP(a) === 4)
  if (v4) return v4
  return addresses.find(a => isIP(a) === 6 && !/^fe80:/i.test(a))
}

export interface TargetSource {
  xml(vmName: string): Promise<string>
  interfaceAddresses(vmName: string): Promise<string[]>
}

export async function resolveSshTarget(src: TargetSource, vmName: string, clientPort?: number): Promise<SshTarget> {
  const endpoint = parseSshMetadata(await src.xml(vmName))
  if (endpoint) {
    const port = endpoint.port ?? 22
    if (clientPort !== undefined && clientPort !== port)
      throw new TerminalError(
        'INVALID_MESSAGE',
        `data.port: this VM's SSH endpoint is fixed by its metadata (${port}); omit port or send ${port}`,
        { field: 'data.port', vmId: vmName },
      )
    return { host: endpoint.host, port, source: 'metadata' }
  }
  let addresses: string[]
  try {
    addresses = await src.interfaceAddresses(vmName)
  } catch (e) {
    if (e instanceof TerminalError || (e as { code?: unknown }).code === 'VM_NOT_FOUND') throw e
    addresses = []
  }
  const host = pickAddress(addresses)
  if (!host)
    throw connectFailed(
      'no-address',
      `no address known for VM "${vmName}": libvirt reports no DHCP lease or ARP entry, the host has not seen its MAC, ` +
        'and the domain has no voidvm:ssh metadata (add <voidvm:ssh host="…" port="…"/> to its XML)',
      vmName,
    )
  return { host, port: clientPort ?? 22, source: 'interface' }
}
