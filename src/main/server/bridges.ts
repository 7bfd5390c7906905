/**
 * The bridges a server runs by default. Each bridge adds its factory call
 * below with a one-line edit; the core needs no other change to serve its
 * message types and topics.
 */
import type { Bridge, BridgeContext } from './bridge.js'
import { createHypervisorBridge, libvirtSshOptionsFromEnv } from '../hypervisor/index.js'
import { createHostMonitorBridge } from '../host/index.js'
import { createVncBridge } from '../vnc/index.js'
import { createTerminalBridge } from '../terminal/index.js'

export const DEFAULT_LIBVIRT_URI = 'qemu:///system'

/** What the bridge factories are configured with (from the CLI / startServer options). */
export interface BridgesConfig {
  /** libvirt connection URI, e.g. qemu:///system or test:///default. */
  libvirtUri: string
  /** The server's data dir (also in ctx.dataDir). */
  dataDir: string
  locale: 'en' | 'zh-CN'
}

export async function createDefaultBridges(ctx: BridgeContext, config: BridgesConfig): Promise<Bridge[]> {
  const bridges: Bridge[] = []
  // `hypervisor.directory` (VmDirectory) is what the VNC and terminal bridges take for VM lookup.
  // A qemu+ssh:// URI takes its key etc. from VOIDVM_LIBVIRT_SSH_* (hypervisor/index.ts).
  const ssh = await libvirtSshOptionsFromEnv(config.libvirtUri)
  const hypervisor = await createHypervisorBridge(ctx, { uri: config.libvirtUri, libvirt: ssh ? { ssh } : undefined })
  bridges.push(hypervisor.bridge)
  bridges.push(createHostMonitorBridge(ctx))
  bridges.push(createVncBridge(ctx, hypervisor.directory))
  bridges.push(createTerminalBridge(ctx, hypervisor.directory))
  // One line per bridge, e.g.:
  //   const hypervisor = await createHypervisorBridge(ctx, config); bridges.push(hypervisor)
  //   bridges.push(createVncBridge(ctx, hypervisor.directory))
  void ctx
  void config
  return bridges
}
