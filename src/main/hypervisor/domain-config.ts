/**
 * A domain's configuration from its libvirt XML: identity, OS, vCPUs,
 * memory, disks, network interfaces and displays — what a VM's detail page
 * shows. Runtime facts (state, autostart, disk sizes, guest addresses) are
 * added by the service; this module only reads the XML.
 */
import type { VmDiskInfo, VmGraphicsInfo, VmNicInfo } from '../../shared/protocol.js'
import { attr, list, node, text, xmlParser, type XmlNode } from './xml.js'

export interface DomainConfig {
  name: string
  uuid: string
  title?: string
  description?: string
  os: { type: string; arch?: string; machine?: string }
  vcpus: number
  memoryKiB: number
  maxMemoryKiB: number
  disks: Omit<VmDiskInfo, 'capacityBytes' | 'allocationBytes'>[]
  nics: Omit<VmNicInfo, 'addresses'>[]
  graphics: VmGraphicsInfo[]
}

type Node = XmlNode

const parser = xmlParser(['domain.devices.disk', 'domain.devices.interface', 'domain.devices.graphics'])

/** libvirt's memory units, as multiples of KiB (it writes KiB itself; others are accepted on input). */
const UNIT_KIB: Record<string, number> = {
  b: 1 / 1024,
  bytes: 1 / 1024,
  kb: 1000 / 1024,
  k: 1,
  kib: 1,
  mb: 1e6 / 1024,
  m: 1024,
  mib: 1024,
  gb: 1e9 / 1024,
  g: 1024 ** 2,
  gib: 1024 ** 2,
  tb: 1e12 / 1024,
  t: 1024 ** 3,
  tib: 1024 ** 3,
}

function memoryKiB(v: unknown): number | undefined {
  const n = Number(text(v))
  if (!Number.isFinite(n)) return undefined
  const unit = (attr(v, 'unit') ?? 'KiB').toLowerCase()
  return Math.round(n * (UNIT_KIB[unit] ?? 1))
}

function diskSource(disk: Node): string | undefined {
  const src = disk.source
  const type = attr(disk, 'type')
  if (type === 'volume') {
    const pool = attr(src, 'pool')
    const volume = attr(src, 'volume')
    return pool && volume ? `${pool}/${volume}` : volume
  }
  if (type === 'network') {
    const protocol = attr(src, 'protocol')
    const name = attr(src, 'name')
    const host = attr(node(src)?.host, 'name')
    if (!name) return undefined
    return protocol ? `${protocol}://${host ?? ''}/${name}` : name
  }
  return attr(src, 'file') ?? attr(src, 'dev') ?? attr(src, 'dir') ?? attr(src, 'name')
}

/**
 * Parses a domain XML. Throws when it is not a `<domain>` document, which
 * libvirt never sends.
 */
export function parseDomainConfig(xml: string): DomainConfig {
  const doc = node(parser.parse(xml))
  const dom = node(doc?.domain)
  if (!dom) throw new Error('not a libvirt domain XML document')
  const devices = node(dom.devices) ?? {}
  const os = node(dom.os)
  const maxMemoryKiB = memoryKiB(dom.memory) ?? 0
  const vcpuText = Number(text(dom.vcpu))
  const vcpuCurrent = Number(attr(dom.vcpu, 'current'))

  const disks = list(devices.disk).map(d => {
    const format = attr(d.driver, 'type')
    const bus = attr(d.target, 'bus')
    const source = diskSource(d)
    return {
      target: attr(d.target, 'dev') ?? '',
      device: attr(d, 'device') ?? 'disk',
      ...(bus ? { bus } : {}),
      ...(source ? { source } : {}),
      ...(format ? { format } : {}),
      readonly: 'readonly' in d,
    }
  })

  const nics = list(devices.interface).map(i => {
    const mac = attr(i.mac, 'address')?.toLowerCase()
    const source =
      attr(i.source, 'network') ?? attr(i.source, 'bridge') ?? attr(i.source, 'dev') ?? attr(i.source, 'name')
    const model = attr(i.model, 'type')
    const hostDevice = attr(i.target, 'dev')
    return {
      ...(mac ? { mac } : {}),
      type: attr(i, 'type') ?? 'unknown',
      ...(source ? { source } : {}),
      ...(model ? { model } : {}),
      ...(hostDevice ? { hostDevice } : {}),
    }
  })

  const graphics = list(devices.graphics).map(g => {
    const port = Number(attr(g, 'port'))
    // A listen address may be an attribute or a <listen type='address'> child.
    const listen = attr(g, 'listen') ?? attr(node(g.listen), 'address')
    return {
      type: attr(g, 'type') ?? 'unknown',
      // -1 means "chosen when the VM starts": there is no port yet.
      ...(Number.isInteger(port) && port > 0 ? { port } : {}),
      ...(listen ? { listen } : {}),
    }
  })

  const title = text(dom.title)
  const description = text(dom.description)
  const arch = attr(os?.type, 'arch')
  const machine = attr(os?.type, 'machine')
  return {
    name: text(dom.name) ?? '',
    uuid: text(dom.uuid) ?? '',
    ...(title ? { title } : {}),
    ...(description ? { description } : {}),
    os: { type: text(os?.type) ?? 'hvm', ...(arch ? { arch } : {}), ...(machine ? { machine } : {}) },
    vcpus: Number.isInteger(vcpuCurrent) && vcpuCurrent > 0 ? vcpuCurrent : Number.isInteger(vcpuText) ? vcpuText : 0,
    memoryKiB: memoryKiB(dom.currentMemory) ?? maxMemoryKiB,
    maxMemoryKiB,
    disks,
    nics,
    graphics,
  }
}
