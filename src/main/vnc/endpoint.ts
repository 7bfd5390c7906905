/**
 * Finds a running domain's VNC endpoint (and password) in its live XML:
 * `<graphics type='vnc' port=… listen=… passwd=…>` with optional
 * `<listen type='address' address=…/>` or `<listen type='socket' socket=…/>`.
 */
import type { VncEndpoint } from './upstream.js'

export interface VncTarget {
  endpoint: VncEndpoint
  /** From the secure XML only; never logged or sent to clients. */
  password?: string
}

function decodeEntities(s: string): string {
  return s.replace(/&(#x[0-9a-f]+|#\d+|amp|lt|gt|quot|apos);/gi, (_, e: string) => {
    const l = e.toLowerCase()
    if (l === 'amp') return '&'
    if (l === 'lt') return '<'
    if (l === 'gt') return '>'
    if (l === 'quot') return '"'
    if (l === 'apos') return "'"
    const cp = l.startsWith('#x') ? parseInt(l.slice(2), 16) : parseInt(l.slice(1), 10)
    // An out-of-range reference stays as written rather than throwing.
    return cp <= 0x10ffff ? String.fromCodePoint(cp) : `&${e};`
  })
}

function attrs(tag: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const m of tag.matchAll(/([\w:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g))
    out[m[1]!] = decodeEntities(m[2] ?? m[3] ?? '')
  return out
}

/** Wildcard listen addresses are reached over loopback. */
function connectHost(listen: string | undefined): string {
  if (!listen || listen === '0.0.0.0') return '127.0.0.1'
  if (listen === '::' || listen === '[::]') return '::1'
  return listen.replace(/^\[(.*)\]$/, '$1')
}

/** The graphics types a domain XML declares, e.g. ["spice"]. */
function graphicsTypes(xml: string): string[] {
  return [...xml.matchAll(/<graphics\b([^>]*)>/g)].map(g => attrs(g[1]!).type ?? 'unknown')
}

/**
 * The VNC target of a live domain XML, or a string saying why there is none
 * (no VNC graphics, not running / no port yet, no listener).
 */
export function vncTargetFromXml(xml: string): VncTarget | string {
  const m = /<graphics\b([^>]*?\btype\s*=\s*["']vnc["'][^>]*?)(\/>|>([\s\S]*?)<\/graphics>)/.exec(xml)
  if (!m) {
    const others = graphicsTypes(xml)
    return others.length
      ? `the VM has no VNC display: it has no VNC graphics, only ${others.join(', ')}`
      : 'the VM has no VNC display: it has no VNC graphics (no graphics device at all)'
  }
  const a = attrs(m[1]!)
  const inner = m[3] ?? ''
  const password = a.passwd !== undefined ? a.passwd : undefined
  const listens = [...inner.matchAll(/<listen\b([^>]*?)\/?>/g)].map(l => attrs(l[1]!))
  const sock = a.socket ?? listens.find(l => l.type === 'socket' && l.socket)?.socket
  if (sock) return { endpoint: { kind: 'unix', path: sock }, password }
  if (listens.some(l => l.type === 'socket')) return 'the VM has no VNC socket path in its live XML (is it running?)'
  if (listens.length > 0 && listens.every(l => l.type === 'none'))
    return "the VM has no VNC display to connect to: its VNC graphics listen nowhere (listen type 'none')"
  const port = Number(a.port)
  if (!Number.isInteger(port) || port <= 0 || port > 65535) return 'the VM has no VNC port (is it running?)'
  const listen = a.listen ?? listens.find(l => l.type === 'address' && l.address)?.address
  return { endpoint: { kind: 'tcp', host: connectHost(listen), port }, password }
}
