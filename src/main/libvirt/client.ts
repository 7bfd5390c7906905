/**
 * The procedure layer: one open connection to a libvirt daemon with typed
 * methods for the calls VoidVM needs, domain events and console streams.
 */
import { EventEmitter } from 'node:events'
import {
  AuthType,
  ConsoleFlags,
  DomainEventId,
  DomainStats,
  DomainXmlFlags,
  FEATURE_PROGRAM_KEEPALIVE,
  InterfaceAddressSource,
  Proc,
  TypedParamType,
  type DomainStateNumber,
  type InterfaceAddressSourceNumber,
  type LifecycleEventNumber,
} from './constants.js'
import { LibvirtConnectionError, LibvirtError, LibvirtProtocolError, isDomainNotFound } from './errors.js'
import type { Packet } from './framing.js'
import { RpcConnection } from './rpc.js'
import { LibvirtStream } from './console.js'
import { defaultSocketPath, openSsh, openUnixSocket, parseUri, type OpenedTransport } from './transport.js'
import type {
  BlockInfo,
  ConnectOptions,
  ConsoleOptions,
  Domain,
  DomainInfo,
  DomainInterface,
  DomainRef,
  DomainStateInfo,
  DomainStatsRecord,
  LifecycleEventData,
  NodeInfo,
  RebootEventData,
  TypedParamValue,
  XmlDescOptions,
} from './types.js'
import { XdrReader, XdrWriter } from './xdr.js'

/** Limits from remote_protocol.x, used to refuse absurd counts before allocating. */
const DOMAIN_LIST_MAX = 16384
const STATS_MAX = 262144
const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i

export function uuidToBytes(uuid: string): Buffer {
  const hex = uuid.replace(/-/g, '')
  if (!/^[0-9a-f]{32}$/i.test(hex)) throw new TypeError(`invalid UUID "${uuid}"`)
  return Buffer.from(hex, 'hex')
}

export function bytesToUuid(b: Buffer): string {
  const h = b.toString('hex')
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`
}

/** remote_nonnull_domain: name, 16-byte fixed opaque UUID (no length word), id. */
function writeDomain(w: XdrWriter, d: Domain): XdrWriter {
  return w.string(d.name).fixedOpaque(uuidToBytes(d.uuid)).int(d.id)
}

function readDomain(r: XdrReader): Domain {
  const name = r.string()
  const uuid = bytesToUuid(r.fixedOpaque(16))
  const id = r.int()
  return { name, uuid, id }
}

/** remote_typed_param: field name, then a union tagged 1..7. */
function readTypedParam(r: XdrReader): [string, TypedParamValue] {
  const field = r.string()
  const type = r.int()
  switch (type) {
    case TypedParamType.INT:
      return [field, r.int()]
    case TypedParamType.UINT:
      return [field, r.uint()]
    case TypedParamType.LLONG:
      return [field, r.hyper()]
    case TypedParamType.ULLONG:
      return [field, r.uhyper()]
    case TypedParamType.DOUBLE:
      return [field, r.double()]
    case TypedParamType.BOOLEAN:
      return [field, r.int() !== 0]
    case TypedParamType.STRING:
      return [field, r.string()]
    default:
      throw new LibvirtProtocolError(`typed parameter "${field}" has unknown type ${type}`)
  }
}

export interface LibvirtClientEvents {
  /** A domain lifecycle change (after registerDomainEvents()). */
  lifecycle: [event: LifecycleEventData]
  /** A guest reboot (after registerDomainEvents()). */
  reboot: [event: RebootEventData]
  /** The connection ended: `error` is undefined after close(), else why it dropped. */
  close: [error: Error | undefined]
}

const DEFAULTS = {
  callTimeoutMs: 30_000,
  connectTimeoutMs: 10_000,
  keepaliveIntervalMs: 5_000,
  keepaliveCount: 5,
}

export class LibvirtClient extends EventEmitter<LibvirtClientEvents> {
  private eventCallbacks = new Map<number, number>() // callbackID → event id
  private registering: Promise<void> | undefined
  private closing: Promise<void> | undefined

  private constructor(
    /** The URI as given to connect(). */
    readonly uri: string,
    private readonly rpc: RpcConnection,
    private readonly transport: OpenedTransport,
    /** The options given to connect() (for openSibling). */
    private readonly opts: ConnectOptions,
  ) {
    super()
    rpc.on('message', pkt => this.onMessage(pkt))
    rpc.on('close', err => {
      this.transport.dispose()
      this.eventCallbacks.clear()
      this.emit('close', err)
    })
  }

  /**
   * Opens a connection: `qemu:///system`, `test:///default` (through the
   * daemon), `qemu+unix:///system?socket=/path`, `qemu+ssh://user@host[:port]/system`.
   * Rejects with LibvirtConnectionError (transport) or LibvirtError (daemon refused).
   */
  static async connect(uri = 'qemu:///system', opts: ConnectOptions = {}): Promise<LibvirtClient> {
    const o = { ...DEFAULTS, ...opts }
    const parsed = parseUri(uri)
    const transport =
      parsed.transport === 'ssh'
        ? await openSsh(parsed, opts.ssh ?? {}, o.connectTimeoutMs, opts.readOnly ?? false)
        : await openUnixSocket(opts.socketPath ?? defaultSocketPath(parsed, opts.readOnly), o.connectTimeoutMs)
    return LibvirtClient.over(uri, transport, opts)
  }

  /** The handshake (and keepalive) on an opened transport; disposes of it on failure. */
  private static async over(uri: string, transport: OpenedTransport, opts: ConnectOptions): Promise<LibvirtClient> {
    const o = { ...DEFAULTS, ...opts }
    const rpc = new RpcConnection(transport.stream, {
      callTimeoutMs: o.callTimeoutMs,
      description: transport.description,
    })
    const client = new LibvirtClient(uri, rpc, transport, opts)
    try {
      await client.handshake(parseUri(uri).driverUri, opts.readOnly ?? false, o.connectTimeoutMs)
    } catch (err) {
      rpc.destroy()
      transport.dispose()
      throw err
    }
    if (o.keepaliveIntervalMs > 0) {
      const supported = await client.supportsFeature(FEATURE_PROGRAM_KEEPALIVE).catch(() => false)
      if (supported) rpc.startKeepalive(o.keepaliveIntervalMs, o.keepaliveCount)
    }
    return client
  }

  /**
   * Another connection to the same daemon with the same settings (`overrides`
   * laid over them), for work that must not share this one — a console that
   * may stop reading its connection. Over SSH it is a new channel on this
   * connection's SSH session, so there is no second login; where the SSH
   * server refuses one more channel (MaxSessions), or on a unix socket, it is
   * a connection of its own. Closing either leaves the other open.
   */
  async openSibling(overrides: Omit<ConnectOptions, 'ssh' | 'socketPath'> = {}): Promise<LibvirtClient> {
    const opts = { ...this.opts, ...overrides }
    if (this.transport.openChannel && this.isOpen) {
      try {
        return await LibvirtClient.over(this.uri, await this.transport.openChannel(), opts)
      } catch (err) {
        if (!(err instanceof LibvirtConnectionError && err.reason === 'ssh-channel-refused')) throw err
      }
    }
    return LibvirtClient.connect(this.uri, opts)
  }

  private async handshake(driverUri: string, readOnly: boolean, timeoutMs: number): Promise<void> {
    const authReply = await this.rpc.call(Proc.AUTH_LIST, undefined, { timeoutMs })
    const types = new XdrReader(authReply).array(r => r.int(), 20)
    if (types.length > 0 && !types.includes(AuthType.NONE)) {
      if (types.includes(AuthType.POLKIT)) {
        const r = new XdrReader(await this.rpc.call(Proc.AUTH_POLKIT, undefined, { timeoutMs }))
        if (r.int() === 0) throw new LibvirtError(45, 7, 'polkit authentication did not complete')
      } else {
        throw new LibvirtConnectionError(
          `libvirt daemon requires SASL authentication, which this client does not support (offered: ${types.join(',')})`,
          'auth-unsupported',
        )
      }
    }
    const w = new XdrWriter().optString(driverUri).uint(readOnly ? 1 : 0)
    await this.rpc.call(Proc.CONNECT_OPEN, w.bytes(), { timeoutMs })
  }

  /** True until the connection ends. */
  get isOpen(): boolean {
    return !this.rpc.closed
  }

  /** Raw escape hatch: sends a remote-program call with an XDR body and returns the XDR reply. */
  callRaw(procedure: number, args?: Uint8Array, opts: { timeoutMs?: number } = {}): Promise<Buffer> {
    return this.rpc.call(procedure, args, opts)
  }

  private async call(procedure: number, w?: XdrWriter): Promise<XdrReader> {
    return new XdrReader(await this.rpc.call(procedure, w?.bytes()))
  }

  private async resolve(dom: DomainRef): Promise<Domain> {
    return typeof dom === 'string' ? this.lookupDomain(dom) : dom
  }

  private async domCall(procedure: number, dom: DomainRef, extra?: (w: XdrWriter) => void): Promise<XdrReader> {
    const d = await this.resolve(dom)
    const w = writeDomain(new XdrWriter(), d)
    extra?.(w)
    return this.call(procedure, w)
  }

  // ---- connection ----------------------------------------------------------

  async supportsFeature(feature: number): Promise<boolean> {
    const r = await this.call(Proc.CONNECT_SUPPORTS_FEATURE, new XdrWriter().int(feature))
    return r.int() !== 0
  }

  async getHostname(): Promise<string> {
    return (await this.call(Proc.CONNECT_GET_HOSTNAME)).string()
  }

  /** The canonical URI of the driver the daemon opened (e.g. qemu:///system). */
  async getUri(): Promise<string> {
    return (await this.call(Proc.CONNECT_GET_URI)).string()
  }

  /** The hypervisor driver's name, e.g. "QEMU" or "TEST". */
  async getType(): Promise<string> {
    return (await this.call(Proc.CONNECT_GET_TYPE)).string()
  }

  /** The hypervisor's version, encoded as getLibVersion's (e.g. 7002000 for QEMU 7.2.0; 0 when unknown). */
  async getVersion(): Promise<number> {
    return Number((await this.call(Proc.CONNECT_GET_VERSION)).uhyper())
  }

  /** The capabilities XML: the host's CPU, NUMA cells and the guest types it can run. */
  async getCapabilities(): Promise<string> {
    return (await this.call(Proc.CONNECT_GET_CAPABILITIES)).string()
  }

  /** libvirt version as major*1_000_000 + minor*1000 + release (e.g. 9000000 for 9.0.0). */
  async getLibVersion(): Promise<number> {
    return Number((await this.call(Proc.CONNECT_GET_LIB_VERSION)).uhyper())
  }

  // ---- domains -------------------------------------------------------------

  /** All domains (flags: ListDomainsFlags, 0 = all). */
  async listAllDomains(flags = 0): Promise<Domain[]> {
    const r = await this.call(Proc.CONNECT_LIST_ALL_DOMAINS, new XdrWriter().int(1).uint(flags))
    const doms = r.array(readDomain, DOMAIN_LIST_MAX)
    r.uint()
    return doms
  }

  async lookupDomainByName(name: string): Promise<Domain> {
    return readDomain(await this.call(Proc.DOMAIN_LOOKUP_BY_NAME, new XdrWriter().string(name)))
  }

  async lookupDomainByUuid(uuid: string): Promise<Domain> {
    return readDomain(await this.call(Proc.DOMAIN_LOOKUP_BY_UUID, new XdrWriter().fixedOpaque(uuidToBytes(uuid))))
  }

  /**
   * Finds a domain by UUID (when the string looks like one) or name.
   * Rejects with LibvirtError code 42 (VIR_ERR_NO_DOMAIN) when there is none.
   */
  async lookupDomain(nameOrUuid: string): Promise<Domain> {
    if (UUID_RE.test(nameOrUuid)) {
      try {
        return await this.lookupDomainByUuid(nameOrUuid)
      } catch (err) {
        if (!isDomainNotFound(err)) throw err
      }
    }
    return this.lookupDomainByName(nameOrUuid)
  }

  async domainGetInfo(dom: DomainRef): Promise<DomainInfo> {
    const r = await this.domCall(Proc.DOMAIN_GET_INFO, dom)
    // unsigned char / unsigned short travel as 4-byte words.
    const state = r.uint() as DomainStateNumber
    const maxMemKiB = Number(r.uhyper())
    const memoryKiB = Number(r.uhyper())
    const nrVirtCpu = r.uint()
    const cpuTimeNs = r.uhyper()
    return { state, maxMemKiB, memoryKiB, nrVirtCpu, cpuTimeNs }
  }

  async domainGetState(dom: DomainRef): Promise<DomainStateInfo> {
    const r = await this.domCall(Proc.DOMAIN_GET_STATE, dom, w => w.uint(0))
    return { state: r.int() as DomainStateNumber, reason: r.int() }
  }

  /**
   * The domain XML. `secure: true` includes secrets such as VNC passwords:
   * pass it only for callers allowed to see them.
   */
  async domainGetXmlDesc(dom: DomainRef, opts: XmlDescOptions = {}): Promise<string> {
    let flags = 0
    if (opts.secure) flags |= DomainXmlFlags.SECURE
    if (opts.inactive) flags |= DomainXmlFlags.INACTIVE
    if (opts.updateCpu) flags |= DomainXmlFlags.UPDATE_CPU
    if (opts.migratable) flags |= DomainXmlFlags.MIGRATABLE
    return (await this.domCall(Proc.DOMAIN_GET_XML_DESC, dom, w => w.uint(flags))).string()
  }

  /** Whether the domain starts with the host (virDomainGetAutostart). */
  async domainGetAutostart(dom: DomainRef): Promise<boolean> {
    return (await this.domCall(Proc.DOMAIN_GET_AUTOSTART, dom)).int() !== 0
  }

  /** Sets whether the domain starts when the host (its daemon) does; the daemon refuses it for a transient domain. */
  async domainSetAutostart(dom: DomainRef, autostart: boolean): Promise<void> {
    await this.domCall(Proc.DOMAIN_SET_AUTOSTART, dom, w => w.int(autostart ? 1 : 0))
  }

  /** Whether the domain has a persistent definition (false for a transient one). */
  async domainIsPersistent(dom: DomainRef): Promise<boolean> {
    return (await this.domCall(Proc.DOMAIN_IS_PERSISTENT, dom)).int() !== 0
  }

  /**
   * Size of one of the domain's disks, named by target ("vda") or source
   * path: capacity as the guest sees it, allocation and physical size on the
   * host (bytes).
   */
  async domainGetBlockInfo(dom: DomainRef, disk: string): Promise<BlockInfo> {
    const r = await this.domCall(Proc.DOMAIN_GET_BLOCK_INFO, dom, w => w.string(disk).uint(0))
    const allocation = Number(r.uhyper())
    const capacity = Number(r.uhyper())
    const physical = Number(r.uhyper())
    return { capacity, allocation, physical }
  }

  /** Starts a defined domain; resolves with its handle (now with an id). */
  async domainCreate(dom: DomainRef, flags = 0): Promise<Domain> {
    return readDomain(await this.domCall(Proc.DOMAIN_CREATE_WITH_FLAGS, dom, w => w.uint(flags)))
  }

  /** Graceful shutdown request (ACPI by default; flags: ShutdownFlags). */
  async domainShutdown(dom: DomainRef, flags = 0): Promise<void> {
    await this.domCall(Proc.DOMAIN_SHUTDOWN_FLAGS, dom, w => w.uint(flags))
  }

  /** Graceful reboot request (flags: ShutdownFlags). */
  async domainReboot(dom: DomainRef, flags = 0): Promise<void> {
    await this.domCall(Proc.DOMAIN_REBOOT, dom, w => w.uint(flags))
  }

  /** Hard reset, like pressing the reset button. */
  async domainReset(dom: DomainRef): Promise<void> {
    await this.domCall(Proc.DOMAIN_RESET, dom, w => w.uint(0))
  }

  /** Power off immediately (flags: DestroyFlags). */
  async domainDestroy(dom: DomainRef, flags = 0): Promise<void> {
    await this.domCall(Proc.DOMAIN_DESTROY_FLAGS, dom, w => w.uint(flags))
  }

  async domainSuspend(dom: DomainRef): Promise<void> {
    await this.domCall(Proc.DOMAIN_SUSPEND, dom)
  }

  async domainResume(dom: DomainRef): Promise<void> {
    await this.domCall(Proc.DOMAIN_RESUME, dom)
  }

  /** Defines (or redefines) a persistent domain from XML. */
  async domainDefineXml(xml: string, flags = 0): Promise<Domain> {
    return readDomain(await this.call(Proc.DOMAIN_DEFINE_XML_FLAGS, new XdrWriter().string(xml).uint(flags)))
  }

  /** Removes a domain's persistent definition (flags: UndefineFlags). */
  async domainUndefine(dom: DomainRef, flags = 0): Promise<void> {
    await this.domCall(Proc.DOMAIN_UNDEFINE_FLAGS, dom, w => w.uint(flags))
  }

  /**
   * CONNECT_GET_ALL_DOMAIN_STATS: one record per domain with typed parameters
   * (64-bit counters as bigint). `statsMask`: DomainStats bits (0 = all the
   * driver supports); `flags`: DomainStatsFlags. Pass `domains` to limit the
   * records to those domains.
   */
  async getAllDomainStats(
    statsMask: number = DomainStats.STATE |
      DomainStats.CPU_TOTAL |
      DomainStats.BALLOON |
      DomainStats.VCPU |
      DomainStats.INTERFACE |
      DomainStats.BLOCK,
    flags = 0,
    domains: DomainRef[] = [],
  ): Promise<DomainStatsRecord[]> {
    const resolved = await Promise.all(domains.map(d => this.resolve(d)))
    const w = new XdrWriter().uint(resolved.length)
    for (const d of resolved) writeDomain(w, d)
    w.uint(statsMask).uint(flags)
    const r = await this.call(Proc.CONNECT_GET_ALL_DOMAIN_STATS, w)
    return r.array(rr => {
      const domain = readDomain(rr)
      const params: Record<string, TypedParamValue> = {}
      for (const [k, v] of rr.array(readTypedParam, STATS_MAX)) params[k] = v
      return { domain, params }
    }, DOMAIN_LIST_MAX)
  }

  /** Guest interface addresses from DHCP leases (0), the guest agent (1) or the ARP table (2). */
  async domainInterfaceAddresses(
    dom: DomainRef,
    source: InterfaceAddressSourceNumber = InterfaceAddressSource.LEASE,
  ): Promise<DomainInterface[]> {
    const r = await this.domCall(Proc.DOMAIN_INTERFACE_ADDRESSES, dom, w => w.uint(source).uint(0))
    return r.array(
      ir => ({
        name: ir.string(),
        hwaddr: ir.optString(),
        addrs: ir.array(ar => ({ type: ar.int(), addr: ar.string(), prefix: ar.uint() }), 2048),
      }),
      2048,
    )
  }

  // ---- node ----------------------------------------------------------------

  async nodeGetInfo(): Promise<NodeInfo> {
    const r = await this.call(Proc.NODE_GET_INFO)
    // char model[32] is a fixed array of 32 XDR ints.
    const chars: number[] = []
    for (let i = 0; i < 32; i++) chars.push(r.int() & 0xff)
    const end = chars.indexOf(0)
    const model = Buffer.from(end >= 0 ? chars.slice(0, end) : chars).toString('latin1')
    return {
      model,
      memoryKiB: Number(r.uhyper()),
      cpus: r.int(),
      mhz: r.int(),
      nodes: r.int(),
      sockets: r.int(),
      cores: r.int(),
      threads: r.int(),
    }
  }

  /**
   * Host CPU times in ns (kernel, user, idle, iowait …), all CPUs (cpuNum -1)
   * or one. Two calls: the first (nparams 0) learns how many there are.
   */
  async nodeGetCpuStats(cpuNum = -1): Promise<Record<string, bigint>> {
    const first = await this.call(Proc.NODE_GET_CPU_STATS, new XdrWriter().int(cpuNum).int(0).uint(0))
    first.array(readFieldValue, 64)
    const n = first.int()
    const r = await this.call(Proc.NODE_GET_CPU_STATS, new XdrWriter().int(cpuNum).int(n).uint(0))
    return Object.fromEntries(r.array(readFieldValue, 64))
  }

  /** Host memory in KiB (total, free, buffers, cached), whole host (cellNum -1) or one NUMA cell. */
  async nodeGetMemoryStats(cellNum = -1): Promise<Record<string, bigint>> {
    const first = await this.call(Proc.NODE_GET_MEMORY_STATS, new XdrWriter().int(0).int(cellNum).uint(0))
    first.array(readFieldValue, 64)
    const n = first.int()
    const r = await this.call(Proc.NODE_GET_MEMORY_STATS, new XdrWriter().int(n).int(cellNum).uint(0))
    return Object.fromEntries(r.array(readFieldValue, 64))
  }

  // ---- console ---------------------------------------------------------------

  /**
   * Opens the domain's console (or the named character device, e.g. "serial0")
   * as a Duplex of raw bytes. Safe mode by default: fails if another client
   * holds the console; `force` takes it over. End it with `.end()` (finish) or
   * `.destroy()` (abort).
   */
  async openConsole(dom: DomainRef, devName?: string | null, opts: ConsoleOptions = {}): Promise<LibvirtStream> {
    const d = await this.resolve(dom)
    const flags = opts.force ? ConsoleFlags.FORCE : ConsoleFlags.SAFE
    const w = writeDomain(new XdrWriter(), d)
      .optString(devName ?? null)
      .uint(flags)
    // The stream sink must exist before the call is sent: console output can beat the reply.
    const holder: { stream?: LibvirtStream } = {}
    const pending = this.rpc.call(Proc.DOMAIN_OPEN_CONSOLE, w.bytes(), {
      stream: (pkt: Packet) => holder.stream?.sink(pkt),
    })
    const stream = new LibvirtStream(this.rpc, Proc.DOMAIN_OPEN_CONSOLE, this.rpc.lastSerial, d.name)
    holder.stream = stream
    await pending
    stream.markOpen()
    return stream
  }

  // ---- events ----------------------------------------------------------------

  /**
   * Registers for lifecycle and reboot events of all domains; they are then
   * emitted as `lifecycle` and `reboot`. Idempotent.
   */
  registerDomainEvents(): Promise<void> {
    if (this.eventCallbacks.size > 0) return Promise.resolve()
    this.registering ??= (async () => {
      try {
        for (const id of [DomainEventId.LIFECYCLE, DomainEventId.REBOOT]) {
          // remote_domain (optional): absent = all domains.
          const r = await this.call(
            Proc.CONNECT_DOMAIN_EVENT_CALLBACK_REGISTER_ANY,
            new XdrWriter().int(id).bool(false),
          )
          this.eventCallbacks.set(r.int(), id)
        }
      } finally {
        this.registering = undefined
      }
    })()
    return this.registering
  }

  async deregisterDomainEvents(): Promise<void> {
    const ids = [...this.eventCallbacks.keys()]
    this.eventCallbacks.clear()
    for (const id of ids)
      await this.call(Proc.CONNECT_DOMAIN_EVENT_CALLBACK_DEREGISTER_ANY, new XdrWriter().int(id)).catch(() => undefined)
  }

  private onMessage(pkt: Packet): void {
    try {
      const r = new XdrReader(pkt.payload)
      switch (pkt.header.procedure) {
        case Proc.DOMAIN_EVENT_CALLBACK_LIFECYCLE: {
          r.int() // callbackID
          const domain = readDomain(r)
          const event = r.int() as LifecycleEventNumber
          const detail = r.int()
          this.emit('lifecycle', { domain, event, detail })
          return
        }
        case Proc.DOMAIN_EVENT_CALLBACK_REBOOT: {
          r.int()
          this.emit('reboot', { domain: readDomain(r) })
          return
        }
        default:
          return
      }
    } catch {
      // A malformed event is dropped rather than taking the connection down.
    }
  }

  // ---- close -----------------------------------------------------------------

  /**
   * CONNECT_CLOSE, then hang up. The daemon closes the socket right after
   * replying, so an EOF there counts as success. Safe to call twice.
   */
  close(): Promise<void> {
    this.closing ??= (async () => {
      if (this.rpc.closed) return
      this.rpc.expectingEof = true
      try {
        await this.rpc.call(Proc.CONNECT_CLOSE, undefined, { timeoutMs: 5000 })
      } catch {
        // EOF or timeout while closing: the connection is going away regardless.
      }
      this.rpc.destroy()
      this.transport.dispose()
    })()
    return this.closing
  }
}

function readFieldValue(r: XdrReader): [string, bigint] {
  return [r.string(), r.uhyper()]
}
