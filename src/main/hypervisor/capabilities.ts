/**
 * The host facts in libvirt's capabilities XML that a host page shows: the
 * CPU's architecture, model and vendor, and whether the daemon can run
 * hardware-accelerated (KVM) guests or only emulated (TCG) ones.
 */
import { list, node, text, xmlParser, type XmlNode } from './xml.js'

export interface HostCapabilities {
  arch?: string
  /** libvirt's name for the host CPU model (e.g. "Skylake-Client-IBRS"). */
  model?: string
  vendor?: string
  /** Some guest type the daemon offers runs under KVM. */
  kvm: boolean
}

const parser = xmlParser(['capabilities.guest', 'capabilities.guest.arch', 'capabilities.guest.arch.domain'])

/** Reads the capabilities XML; missing parts are left out (kvm: false), never an error. */
export function parseCapabilities(xml: string): HostCapabilities {
  let caps: XmlNode | undefined
  try {
    caps = node(node(parser.parse(xml))?.capabilities)
  } catch {
    return { kvm: false }
  }
  const cpu = node(node(caps?.host)?.cpu)
  const kvm = list(caps?.guest).some(g => list(g.arch).some(a => list(a.domain).some(d => d['@_type'] === 'kvm')))
  const out: HostCapabilities = { kvm }
  const arch = text(cpu?.arch)
  const model = text(cpu?.model)
  const vendor = text(cpu?.vendor)
  if (arch) out.arch = arch
  if (model) out.model = model
  if (vendor) out.vendor = vendor
  return out
}
