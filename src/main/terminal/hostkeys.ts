/**
 * SSH host keys pinned on first use, in the server's data dir
 * (`terminal-known-hosts.json`, mode 0600). Entries are keyed by the VM's UUID
 * and the SSH port, not by address: a VM whose address changes (DHCP) keeps
 * its pin, and another machine answering at an old address cannot inherit it.
 * To accept a legitimately changed key, an admin deletes the entry: the file
 * is read on every check and pins are merged into it on write, so a running
 * server sees the deletion at once and never writes the entry back.
 *
 * The libvirt SSH transport keeps its own pins with the same store in
 * `libvirt-known-hosts.json`, keyed by `host:port`.
 */
import { createHash, randomBytes } from 'node:crypto'
import { mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'

export const KNOWN_HOSTS_FILE = 'terminal-known-hosts.json'
/** The pins of the libvirt SSH transport (remote hypervisors), keyed by `host:port`. */
export const LIBVIRT_KNOWN_HOSTS_FILE = 'libvirt-known-hosts.json'

export interface PinnedKey {
  /** `SHA256:<base64 without padding>`, as OpenSSH prints it. */
  fingerprint: string
  /** The key's algorithm name (ssh-ed25519, rsa-sha2-…). */
  keyType: string
  /** The address it was first seen at, for the admin reading the file. */
  host: string
  /** The VM it belongs to (terminal pins only). */
  vmName?: string
  firstSeen: string
}

interface KnownHostsFile {
  version: 1
  hosts: Record<string, PinnedKey>
}

/** The OpenSSH-style SHA-256 fingerprint of a raw public key blob. */
export function sha256Fingerprint(keyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(keyBlob).digest('base64').replace(/=+$/, '')}`
}

/** The algorithm name at the start of an SSH public key blob. */
export function keyTypeOf(keyBlob: Buffer): string {
  if (keyBlob.length < 4) return 'unknown'
  const len = keyBlob.readUInt32BE(0)
  if (len > 64 || 4 + len > keyBlob.length) return 'unknown'
  return keyBlob.subarray(4, 4 + len).toString('latin1')
}

export type PinResult =
  { status: 'pinned' | 'match'; fingerprint: string } | { status: 'mismatch'; fingerprint: string; pinned: string }

export class HostKeyStore {
  readonly file: string
  /** Serialises read-modify-write cycles so two first connects never lose a pin. */
  private queue: Promise<unknown> = Promise.resolve()

  constructor(
    private readonly dataDir: string,
    fileName: string = KNOWN_HOSTS_FILE,
  ) {
    this.file = join(dataDir, fileName)
  }

  static pinKey(vmUuid: string, port: number): string {
    return `${vmUuid}:${port}`
  }

  /**
   * Checks a presented host key against the pin, pinning it when there is none
   * yet. The file is read on every check (it is tiny), so an entry an admin
   * deleted is gone at once and the next key is pinned on first use again.
   */
  check(pinKey: string, keyBlob: Buffer, meta: { host: string; vmName?: string }): Promise<PinResult> {
    const run = async (): Promise<PinResult> => {
      const fingerprint = sha256Fingerprint(keyBlob)
      const pinned = (await this.load()).hosts[pinKey]
      if (pinned) {
        return pinned.fingerprint === fingerprint
          ? { status: 'match', fingerprint }
          : { status: 'mismatch', fingerprint, pinned: pinned.fingerprint }
      }
      const entry: PinnedKey = {
        fingerprint,
        keyType: keyTypeOf(keyBlob),
        host: meta.host,
        ...(meta.vmName !== undefined ? { vmName: meta.vmName } : {}),
        firstSeen: new Date().toISOString(),
      }
      const result = await this.addPin(pinKey, entry)
      return result.fingerprint === fingerprint
        ? { status: 'pinned', fingerprint }
        : { status: 'mismatch', fingerprint, pinned: result.fingerprint }
    }
    const p = this.queue.then(run, run)
    this.queue = p.catch(() => undefined)
    return p
  }

  /** The pin for a key, if any (read from the file now). */
  async get(pinKey: string): Promise<PinnedKey | undefined> {
    return (await this.load()).hosts[pinKey]
  }

  private async load(): Promise<KnownHostsFile> {
    try {
      const parsed: unknown = JSON.parse(await readFile(this.file, 'utf8'))
      if (isKnownHosts(parsed)) return parsed
      throw new Error(`${this.file} is not a VoidVM known-hosts file; fix or remove it`)
    } catch (e) {
      // A missing file means nothing is pinned yet; a corrupt one must not
      // silently reset every pin (that would disable the protection).
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e
      return { version: 1, hosts: {} }
    }
  }

  /**
   * Adds one pin by merging it into the file as it is on disk right now and
   * renaming the result over it, so whatever an admin (or another process)
   * changed meanwhile is kept: a deleted entry stays deleted. Returns the pin
   * that is in the file afterwards (someone else's, if one appeared first).
   */
  private async addPin(pinKey: string, entry: PinnedKey): Promise<PinnedKey> {
    await mkdir(this.dataDir, { recursive: true, mode: 0o700 })
    const db = await this.load()
    const existing = db.hosts[pinKey]
    if (existing) return existing
    db.hosts[pinKey] = entry
    // Unique per write: two stores (or processes) on one file never share a temp file.
    const tmp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`
    try {
      await writeFile(tmp, JSON.stringify(db, null, 2) + '\n', { mode: 0o600 })
      await rename(tmp, this.file)
    } catch (e) {
      await rm(tmp, { force: true })
      throw e
    }
    return entry
  }
}

function isKnownHosts(v: unknown): v is KnownHostsFile {
  if (typeof v !== 'object' || v === null) return false
  const o = v as { version?: unknown; hosts?: unknown }
  if (o.version !== 1 || typeof o.hosts !== 'object' || o.hosts === null) return false
  return Object.values(o.hosts as Record<string, unknown>).every(
    h => typeof h === 'object' && h !== null && typeof (h as { fingerprint?: unknown }).fingerprint === 'string',
  )
}
