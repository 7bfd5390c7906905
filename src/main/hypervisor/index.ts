/**
 * The hypervisor bridge: `vm-control`, the `vm-status` / `vm-status-all`
 * topics and libvirt's lifecycle events as `system-event`s, over one
 * ReconnectingLibvirt connection. Its VmDirectory serves the VNC and terminal
 * bridges from the same connection.
 */
import type { Bridge, BridgeContext, MessageHandler, TopicProvider, VmDirectory } from '../server/bridge.js'
import { readFile } from 'node:fs/promises'
import { parseUri, redactUri, type ReconnectOptions, type SshTransportOptions } from '../libvirt/index.js'
import type { SshHostKeyPins } from '../libvirt/transport.js'
import { HostKeyStore, LIBVIRT_KNOWN_HOSTS_FILE } from '../terminal/hostkeys.js'
import { LibvirtHvClient } from './libvirt.js'
import { HypervisorService } from './service.js'

export { HypervisorService } from './service.js'
export { LibvirtHvClient } from './libvirt.js'

export interface HypervisorBridgeOptions {
  uri: string
  /** Sampling period of vm-status, ms (default 1000). */
  tickMs?: number
  /** Inventory resync period, ms (default 30 000). */
  resyncMs?: number
  /** Passed to ReconnectingLibvirt (socket path, timeouts, backoff). */
  libvirt?: ReconnectOptions
}

/**
 * SSH settings for a `+ssh` libvirt URI from the environment:
 * VOIDVM_LIBVIRT_SSH_KEY is the path of a private key file (read once, at
 * start; its content never reaches a log), VOIDVM_LIBVIRT_SSH_KEY_PASSPHRASE
 * its passphrase, VOIDVM_LIBVIRT_SSH_PASSWORD a login password (an environment
 * variable, not a flag: flags show in `ps`), VOIDVM_LIBVIRT_SSH_HOST_FINGERPRINT pins the host key
 * (`SHA256:…` as `ssh-keygen -lf` prints it; without it, createHypervisorBridge
 * pins the key on first use in the data dir); an ssh-agent (SSH_AUTH_SOCK)
 * is offered too. Undefined when the URI is not an SSH one.
 */
export async function libvirtSshOptionsFromEnv(
  uri: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<SshTransportOptions | undefined> {
  if (!/^[a-z0-9-]+\+(ssh|libssh|libssh2):/i.test(uri)) return undefined
  const o: SshTransportOptions = {}
  const keyFile = env.VOIDVM_LIBVIRT_SSH_KEY
  if (keyFile) {
    try {
      o.privateKey = await readFile(keyFile)
    } catch (err) {
      // Only the path and the errno: never key material.
      const code = (err as NodeJS.ErrnoException).code ?? 'unreadable'
      throw new Error(`VOIDVM_LIBVIRT_SSH_KEY: cannot read the private key file ${keyFile} (${code})`, {
        cause: err,
      })
    }
  }
  if (env.VOIDVM_LIBVIRT_SSH_KEY_PASSPHRASE) o.passphrase = env.VOIDVM_LIBVIRT_SSH_KEY_PASSPHRASE
  if (env.VOIDVM_LIBVIRT_SSH_PASSWORD) o.password = env.VOIDVM_LIBVIRT_SSH_PASSWORD
  if (env.VOIDVM_LIBVIRT_SSH_HOST_FINGERPRINT) o.hostFingerprint = env.VOIDVM_LIBVIRT_SSH_HOST_FINGERPRINT
  if (env.SSH_AUTH_SOCK) o.agent = env.SSH_AUTH_SOCK
  return o
}

/**
 * SSH host keys of remote hypervisors pinned on first use, in
 * `<dataDir>/libvirt-known-hosts.json` (mode 0600, keyed by `host:port`);
 * each new pin is logged once.
 */
export function libvirtHostKeyPins(ctx: Pick<BridgeContext, 'dataDir' | 'log'>): SshHostKeyPins {
  const store = new HostKeyStore(ctx.dataDir, LIBVIRT_KNOWN_HOSTS_FILE)
  return {
    location: store.file,
    lookup: async hostPort => (await store.get(hostPort))?.fingerprint,
    async pin(hostPort, key) {
      const host = hostPort.replace(/:\d+$/, '').replace(/^\[|\]$/g, '')
      const r = await store.check(hostPort, key, { host })
      if (r.status === 'pinned')
        ctx.log.info(`pinned SSH host key ${r.fingerprint} for ${hostPort}`, { file: store.file })
      return r.status === 'mismatch' ? r.pinned : r.fingerprint
    },
  }
}

/** The libvirt options with host-key pinning on first use added for an SSH URI that has no fingerprint configured. */
function withHostKeyPins(ctx: BridgeContext, uri: string, libvirt: ReconnectOptions | undefined) {
  let ssh: boolean
  try {
    ssh = parseUri(uri).transport === 'ssh'
  } catch {
    // A bad URI fails at connect, with its own message.
    return libvirt
  }
  const o = libvirt?.ssh
  if (!ssh || o?.hostFingerprint || o?.hostKeyPins) return libvirt
  return { ...libvirt, ssh: { ...o, hostKeyPins: libvirtHostKeyPins(ctx) } }
}

export async function createHypervisorBridge(
  ctx: BridgeContext,
  opts: HypervisorBridgeOptions,
): Promise<{ bridge: Bridge; directory: VmDirectory; service: HypervisorService }> {
  // DESIGN: SSH host keys are pinned on first use; a changed key is an error.
  const client = LibvirtHvClient.create(opts.uri, withHostKeyPins(ctx, opts.uri, opts.libvirt))
  // Logs and /api/health show the URI without any password it may carry.
  const shownUri = redactUri(opts.uri)
  const service = new HypervisorService(client, {
    locale: ctx.locale,
    log: ctx.log,
    emitEvent: (data, vmName) => ctx.broadcast('system-event', data, vmName),
    tickMs: opts.tickMs,
    resyncMs: opts.resyncMs,
  })
  let lastLogged: string | undefined
  client.lv.on('connect-failed', (err, attempt) => {
    // Log the first failure, a new reason (e.g. a daemon that is back but now shows a changed
    // SSH host key), and then rarely: a daemon down for hours must not flood the log.
    if (attempt <= 1 || attempt % 20 === 0 || err.message !== lastLogged) {
      lastLogged = err.message
      ctx.log.warn('libvirt connection attempt failed; retrying', { uri: shownUri, attempt, error: err.message })
    }
  })
  service.start()
  try {
    await client.lv.start()
  } catch (err) {
    // The server still starts: control requests get HYPERVISOR_UNAVAILABLE until libvirt answers.
    ctx.log.warn('libvirt not reachable at startup; will keep retrying', {
      uri: shownUri,
      error: err instanceof Error ? err.message : String(err),
    })
  }

  const vmControl: MessageHandler<'vm-control'> = {
    type: 'vm-control',
    permission: 'control',
    vmIdOf: d => d.vmId,
    // The core audits vm-control (who, which VM, outcome); no second line here.
    handle: (data, hctx) => service.control(data.vmId, data.action, data.force ?? false, hctx.principal),
  }

  const vmInfo: MessageHandler<'vm-info'> = {
    type: 'vm-info',
    permission: 'view',
    vmIdOf: d => d.vmId,
    handle: data => service.info(data.vmId),
  }

  const vmAutostart: MessageHandler<'vm-autostart'> = {
    type: 'vm-autostart',
    permission: 'control',
    vmIdOf: d => d.vmId,
    // Audited by the core (vm-autostart:on / :off).
    handle: data => service.setAutostart(data.vmId, data.enabled),
  }

  const hostInfo: MessageHandler<'host-info'> = {
    type: 'host-info',
    permission: 'view',
    handle: (_data, hctx) => service.hostInfo(hctx.principal, shownUri),
  }

  const statusTopic = (topic: 'vm-status' | 'vm-status-all'): TopicProvider => ({
    topic,
    permission: 'view',
    async subscribe(data, hctx) {
      // vm-status without a vmId means every VM the user may see (the seed's client sends it so).
      const vmRef = topic === 'vm-status' ? data.vmId : undefined
      const w = await service.watch(hctx.conn, hctx.principal, vmRef)
      return {
        response: w.vmName !== undefined ? { topic, vmId: w.vmName } : { topic },
        close: w.close,
      }
    },
  })

  const bridge: Bridge = {
    name: 'hypervisor',
    handlers: [
      vmControl as unknown as MessageHandler,
      vmInfo as unknown as MessageHandler,
      vmAutostart as unknown as MessageHandler,
      hostInfo as unknown as MessageHandler,
    ],
    topics: [statusTopic('vm-status'), statusTopic('vm-status-all')],
    async resolveVm(vmRef) {
      const known = service.lookupName(vmRef)
      if (known) return known
      if (!service.connected) return undefined
      try {
        return (await service.resolve(vmRef)).name
      } catch {
        return undefined
      }
    },
    health: () => ({ connected: service.connected, uri: shownUri }),
    async close() {
      await service.close()
      await client.close()
    },
  }
  return { bridge, directory: service, service }
}
