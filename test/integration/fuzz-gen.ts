/**
 * A deterministic generator of malformed (and some well-formed) client frames
 * for the WebSocket API fuzz test. Pure: the same seed and targets give the
 * same frames. Each case says what the reply must be, from the documented
 * field rules (docs/protocol.md), not from the server's own schemas.
 */

/** mulberry32: small, fast, and the same sequence everywhere for one seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

export interface FuzzTargets {
  /** Running test-driver VM whose VNC display is a real QEMU VNC server on loopback. */
  vnc: string
  /** Test-driver VM whose voidvm:ssh metadata points at a loopback sshd. */
  ssh: string
  /** Test-driver VM the vm-control cases may start, stop, pause … */
  ctl: string
  /** Names under the grant pattern that no VM has. */
  missing: readonly string[]
  /** References outside the fuzzing user's grants (existing or not). */
  foreign: readonly string[]
  /** Working SSH credentials for the ssh VM (used by a few cases only). */
  sshCreds: { username: string; password: string }
}

/** Which kind of VM a case points at. */
export type TargetClass = 'vnc' | 'ssh' | 'ctl' | 'missing' | 'foreign' | 'none'

export interface Expectation {
  /** The reply must be INVALID_MESSAGE whose field lies on this path (one a prefix of the other). */
  invalidPath?: string
  /** The reply must be one of these error codes. */
  codes?: readonly string[]
  /** A `<type>-response` is acceptable. */
  okAllowed: boolean
}

export interface FuzzCase {
  index: number
  /** The message type the case was built from (for reports). */
  base: string
  /** What was done to it. */
  mutation: string
  /** The frame as sent. */
  frame: string
  /** The id the reply must carry; undefined for frames whose id cannot be read. */
  id?: string | number
  target: TargetClass
  expect: Expectation
}

type Spec =
  | { t: 'vmRef' }
  | { t: 'sessionId' }
  | { t: 'str'; min: number; max: number }
  | { t: 'enum'; values: readonly string[] }
  | { t: 'int'; min: number; max: number }
  | { t: 'bool' }
  | { t: 'b64' }
  | { t: 'creds' }

interface Field {
  spec: Spec
  required: boolean
}

interface Variant {
  fields: Record<string, Field>
  /** A well-formed data object (targets picked by the caller). */
  make(r: Picker, vm: string, target: TargetClass): Record<string, unknown>
}

/** The protocol's client messages as docs/protocol.md describes them (auth is fuzzed separately). */
function messageSpecs(): Record<string, Variant[]> {
  const vmRef: Field = { spec: { t: 'vmRef' }, required: true }
  const sid: Field = { spec: { t: 'sessionId' }, required: false }
  const topics = ['vm-status', 'vm-status-all', 'system-monitor'] as const
  return {
    subscribe: [
      {
        fields: {
          topic: { spec: { t: 'enum', values: topics }, required: true },
          vmId: { spec: { t: 'vmRef' }, required: false },
          interval: { spec: { t: 'int', min: 1, max: Number.MAX_SAFE_INTEGER }, required: false },
        },
        make: (r, vm) =>
          // system-monitor only at long intervals: the sampler costs CPU on a shared machine.
          r.chance(0.3) ? { topic: 'system-monitor', interval: 60_000 } : { topic: 'vm-status', vmId: vm },
      },
    ],
    unsubscribe: [
      {
        fields: { topic: { spec: { t: 'enum', values: topics }, required: true }, vmId: { ...vmRef, required: false } },
        make: (r, vm) => ({ topic: r.pick(topics), vmId: vm }),
      },
    ],
    'vm-control': [
      {
        fields: {
          vmId: vmRef,
          action: {
            spec: { t: 'enum', values: ['start', 'stop', 'restart', 'pause', 'resume', 'reset'] },
            required: true,
          },
          force: { spec: { t: 'bool' }, required: false },
        },
        make: (r, vm) => ({
          vmId: vm,
          action: r.pick(['start', 'stop', 'restart', 'pause', 'resume', 'reset']),
          force: r.chance(0.5),
        }),
      },
    ],
    'vm-info': [{ fields: { vmId: vmRef }, make: (_r, vm) => ({ vmId: vm }) }],
    'host-info': [{ fields: {}, make: () => ({}) }],
    'vm-autostart': [
      {
        fields: { vmId: vmRef, enabled: { spec: { t: 'bool' }, required: true } },
        make: (r, vm) => ({ vmId: vm, enabled: r.pick([true, false]) }),
      },
    ],
    'vnc-connect': [
      {
        fields: { vmId: vmRef, transport: { spec: { t: 'enum', values: ['json', 'websocket'] }, required: false } },
        make: (r, vm) => ({ vmId: vm, transport: r.pick(['json', 'websocket']) }),
      },
    ],
    'vnc-data': [
      {
        fields: { vmId: vmRef, sessionId: sid, data: { spec: { t: 'b64' }, required: true } },
        // A FramebufferUpdateRequest for the whole 640×480 screen, or a few random bytes.
        make: (r, vm) => ({
          vmId: vm,
          data: r.chance(0.5)
            ? Buffer.from([3, 0, 0, 0, 0, 0, 2, 128, 1, 224]).toString('base64')
            : Buffer.from(r.bytes(r.int(1, 64))).toString('base64'),
        }),
      },
    ],
    'vnc-input': [
      {
        fields: {
          vmId: vmRef,
          sessionId: sid,
          inputType: { spec: { t: 'enum', values: ['mouse'] }, required: true },
          x: { spec: { t: 'int', min: 0, max: 65535 }, required: true },
          y: { spec: { t: 'int', min: 0, max: 65535 }, required: true },
          buttons: { spec: { t: 'int', min: 0, max: 127 }, required: true },
        },
        make: (r, vm) => ({ vmId: vm, inputType: 'mouse', x: r.int(0, 700), y: r.int(0, 500), buttons: r.int(0, 127) }),
      },
      {
        fields: {
          vmId: vmRef,
          sessionId: sid,
          inputType: { spec: { t: 'enum', values: ['keyboard'] }, required: true },
          key: { spec: { t: 'str', min: 1, max: 32 }, required: true },
          down: { spec: { t: 'bool' }, required: true },
        },
        make: (r, vm) => ({
          vmId: vm,
          inputType: 'keyboard',
          key: r.pick(['Enter', 'a', 'ArrowLeft', 'F5', 'Dead', 'é', '😀', 'Unidentified', 'NotAKey']),
          down: r.chance(0.5),
        }),
      },
      {
        fields: {
          vmId: vmRef,
          sessionId: sid,
          inputType: { spec: { t: 'enum', values: ['text'] }, required: true },
          text: { spec: { t: 'str', min: 1, max: 65536 }, required: true },
        },
        make: (r, vm) => ({
          vmId: vm,
          inputType: 'text',
          text: r.pick(['ls', 'héllo', '虚拟机', '\u0000\u0007', '😀x']),
        }),
      },
    ],
    'vnc-disconnect': [{ fields: { vmId: vmRef, sessionId: sid }, make: (_r, vm) => ({ vmId: vm }) }],
    'terminal-connect': [
      {
        fields: {
          vmId: vmRef,
          type: { spec: { t: 'enum', values: ['ssh', 'serial'] }, required: true },
          credentials: { spec: { t: 'creds' }, required: false },
          port: { spec: { t: 'int', min: 1, max: 65535 }, required: false },
          cols: { spec: { t: 'int', min: 1, max: 1000 }, required: false },
          rows: { spec: { t: 'int', min: 1, max: 1000 }, required: false },
        },
        // Valid credentials are used sparingly (each opens a real SSH session); see generate().
        make: (r, vm) =>
          r.chance(0.5)
            ? { vmId: vm, type: 'serial' }
            : { vmId: vm, type: 'ssh', credentials: { username: 'nobody-fz', privateKey: 'not a key' } },
      },
    ],
    'terminal-input': [
      {
        fields: { vmId: vmRef, sessionId: sid, input: { spec: { t: 'str', min: 0, max: 1 << 20 }, required: true } },
        // Harmless input only: it may reach a real shell.
        make: (r, vm) => ({ vmId: vm, input: r.pick([': fz\r', '\u0015', '# 虚拟机 😀\r', '\u001b[A', '']) }),
      },
    ],
    'terminal-resize': [
      {
        fields: {
          vmId: vmRef,
          sessionId: sid,
          cols: { spec: { t: 'int', min: 1, max: 1000 }, required: true },
          rows: { spec: { t: 'int', min: 1, max: 1000 }, required: true },
        },
        make: (r, vm) => ({ vmId: vm, cols: r.int(1, 1000), rows: r.int(1, 1000) }),
      },
    ],
    'terminal-disconnect': [{ fields: { vmId: vmRef, sessionId: sid }, make: (_r, vm) => ({ vmId: vm }) }],
  }
}

class Picker {
  constructor(private readonly next: () => number) {}
  float(): number {
    return this.next()
  }
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1))
  }
  chance(p: number): boolean {
    return this.next() < p
  }
  pick<T>(items: readonly T[]): T {
    return items[Math.floor(this.next() * items.length)] as T
  }
  bytes(n: number): number[] {
    return Array.from({ length: n }, () => this.int(0, 255))
  }
}

const UNICODE = ['é', '虚拟机', '😀', '\u202e', '\u0000', '\ufeff', '\ud800', 'Ω', '\u200b', '\n']

/** Values of another JSON type than the field's. */
function wrongTyped(spec: Spec, r: Picker): unknown {
  const notString = [5, -1, 1.5, true, false, null, [], ['a'], {}, { a: 1 }]
  const notNumber = ['5', 'NaN', 'Infinity', '-Infinity', '', true, null, [], [1], {}, { n: 1 }]
  const notBool = ['true', 'false', 1, 0, null, [], {}]
  if (spec.t === 'int') return r.pick(notNumber)
  if (spec.t === 'bool') return r.pick(notBool)
  if (spec.t === 'creds') return r.pick(['root:pw', 5, true, [], ['root', 'pw']])
  return r.pick(notString)
}

/** Values of the right JSON type that break the field's documented rule; undefined when there are none. */
function outOfRule(spec: Spec, r: Picker): unknown {
  switch (spec.t) {
    case 'int':
      return r.pick(
        [
          spec.min - 1,
          spec.min - 1e6,
          spec.min + 0.5,
          -0.5,
          1e308,
          -1e308,
          spec.max === Number.MAX_SAFE_INTEGER ? 2 ** 60 : spec.max + 1,
          spec.max + 1e9,
        ].filter(v => v < spec.min || v > spec.max || !Number.isInteger(v)),
      )
    case 'vmRef':
      return r.pick(['', 'v'.repeat(257), 'x'.repeat(r.int(10_000, 400_000))])
    case 'sessionId':
      return r.pick(['', 's'.repeat(129), 's'.repeat(r.int(1000, 100_000))])
    case 'str':
      if (spec.min > 0 && r.chance(0.4)) return ''
      if (spec.max >= 1 << 20) return undefined // longer than 1 MiB would not fit in a frame
      return 'k'.repeat(spec.max + 1 + r.int(0, spec.max > 1000 ? 1000 : 100_000))
    case 'enum': {
      const v = r.pick(spec.values)
      return r.pick([v.toUpperCase(), v[0]!.toUpperCase() + v.slice(1), ` ${v}`, `${v} `, `${v}\u0000`, '', 'x'])
    }
    case 'b64':
      return r.pick(['not base64!', '@@@@', '虚拟机', 'YQ=\u0000', ' YWJj'])
    case 'creds':
      return r.pick([
        {},
        { username: 'root' },
        { password: 'pw' },
        { username: '', password: 'pw' },
        { username: 5, password: 'pw' },
        { username: 'u', privateKey: '' },
        { username: 'u'.repeat(257), password: 'pw' },
      ])
    case 'bool':
      return undefined
  }
}

/** Junk objects, deep nesting and prototype-pollution keys. */
function junk(r: Picker, depth = 0): unknown {
  const k = r.int(0, 7)
  if (depth > 3 || k === 0) return r.pick([null, 0, -0.0, 1e308, '', 'junk', true, UNICODE.join('')])
  if (k === 1) {
    let v: unknown = 'deep'
    for (let i = 0; i < r.int(50, 400); i++) v = r.chance(0.5) ? [v] : { a: v }
    return v
  }
  if (k === 2) return Array.from({ length: r.int(0, 5) }, () => junk(r, depth + 1))
  const o: Record<string, unknown> = {}
  for (let i = 0; i < r.int(1, 4); i++) o[r.pick(['x', 'polluted', 'vmId', '😀', '', 'toString'])] = junk(r, depth + 1)
  return o
}

/** Raw JSON for a key/value pair whose key JSON.parse turns into an own property (e.g. __proto__). */
function rawPair(key: string, value: unknown): string {
  return `${JSON.stringify(key)}:${JSON.stringify(value)}`
}

const POLLUTION_KEYS = ['__proto__', 'constructor', 'prototype', '__defineGetter__', 'hasOwnProperty', 'toString']

function pathOf(field: string): string {
  return `data.${field}`
}

export interface GenerateOptions {
  seed: number
  targets: FuzzTargets
  /** Variants per message type (default 220). */
  perType?: number
  /** Cases that carry the fuzzing user's own fresh token, and another user's token, in `auth`. */
  ownToken: string
  otherToken: string
}

/**
 * The main stream: for every client message type, `perType` variants, each
 * with a unique usable id (string or number) so its one reply can be matched.
 */
export function generate(opts: GenerateOptions): FuzzCase[] {
  const r = new Picker(rng(opts.seed))
  const t = opts.targets
  const specs = messageSpecs()
  const perType = opts.perType ?? 220
  const cases: FuzzCase[] = []
  let idSeq = 0
  const usedIds = new Set<string | number>()

  const nextId = (): string | number => {
    for (;;) {
      idSeq += 1
      const n = idSeq
      const id = r.pick<() => string | number>([
        () => `fz-${n}`,
        () => n,
        () => n + 0.5,
        () => -n,
        () => n * 1e300,
        () => `${n}-${UNICODE.join('')}`,
        () => `${n}-`.padEnd(256, 'i'),
        () => `${n}\u0000${n}`,
      ])()
      if (!usedIds.has(id)) {
        usedIds.add(id)
        return id
      }
    }
  }

  const pickTarget = (type: string): { vm: string; cls: TargetClass } => {
    const own: { vm: string; cls: TargetClass }[] =
      type === 'vm-control'
        ? [{ vm: t.ctl, cls: 'ctl' }]
        : type.startsWith('vnc-')
          ? [{ vm: t.vnc, cls: 'vnc' }]
          : type.startsWith('terminal-')
            ? [{ vm: t.ssh, cls: 'ssh' }]
            : [
                { vm: t.vnc, cls: 'vnc' },
                { vm: t.ctl, cls: 'ctl' },
              ]
    const x = r.float()
    if (x < 0.55) return r.pick(own)
    if (x < 0.75) return { vm: r.pick(t.missing), cls: 'missing' }
    return { vm: r.pick(t.foreign), cls: 'foreign' }
  }

  /** What a schema-valid message may get back, by type and target. */
  const validExpect = (type: string, cls: TargetClass, hasVm: boolean): Expectation => {
    if (type === 'unsubscribe') return { okAllowed: true }
    if (!hasVm) return { okAllowed: true }
    if (cls === 'foreign') return { okAllowed: false, codes: ['FORBIDDEN'] }
    if (cls === 'missing')
      return {
        okAllowed: false,
        codes:
          type === 'subscribe' || type.endsWith('-connect') ? ['VM_NOT_FOUND'] : ['VM_NOT_FOUND', 'SESSION_NOT_FOUND'],
      }
    return { okAllowed: true }
  }

  const push = (c: Omit<FuzzCase, 'index'>): void => {
    cases.push({ index: cases.length, ...c })
  }

  const envelope = (type: unknown, data: unknown, id: string | number): string => JSON.stringify({ type, data, id })

  for (const [type, variants] of Object.entries(specs)) {
    for (let i = 0; i < perType; i++) {
      const variant = r.pick(variants)
      const { vm, cls } = pickTarget(type)
      const data = variant.make(r, vm, cls)
      const fieldNames = Object.keys(variant.fields)
      const id = nextId()
      // A message without fields (host-info) gets only the mutations that need none.
      const fieldless = fieldNames.length === 0
      const m = fieldless ? r.pick([6, 8, 10, 11, 12, 13]) : r.int(0, 13)
      const field = fieldless ? '' : r.pick(fieldNames)
      const spec = variant.fields[field]?.spec ?? { t: 'bool' as const }
      if (m <= 2) {
        // Wrong JSON type for one field.
        data[field] = wrongTyped(spec, r)
        push({
          base: type,
          mutation: `wrong-type ${field}`,
          frame: envelope(type, data, id),
          id,
          target: cls,
          expect: { okAllowed: false, invalidPath: pathOf(field) },
        })
      } else if (m <= 4) {
        // Right type, broken rule: range, float, 1e308, length, case, empty, not base64.
        const v = outOfRule(spec, r)
        if (v === undefined) {
          i -= 1
          continue
        }
        data[field] = v
        push({
          base: type,
          mutation: `out-of-rule ${field}`,
          frame: envelope(type, data, id),
          id,
          target: cls,
          expect: { okAllowed: false, invalidPath: pathOf(field) },
        })
      } else if (m === 5) {
        // A required field missing.
        const required = fieldNames.filter(f => variant.fields[f]!.required)
        const f = r.pick(required)
        delete data[f]
        push({
          base: type,
          mutation: `missing ${f}`,
          frame: envelope(type, data, id),
          id,
          target: cls,
          expect: { okAllowed: false, invalidPath: pathOf(f) },
        })
      } else if (m === 6) {
        // data of the wrong JSON type, or absent.
        const d = r.pick<unknown>(['str', 42, -1e308, true, null, [], [data], undefined])
        push({
          base: type,
          mutation: `data=${JSON.stringify(d)?.slice(0, 40)}`,
          frame: envelope(type, d, id),
          id,
          target: 'none',
          // Absent data counts as {}: for a message without fields that is a valid request.
          expect: fieldless && d === undefined ? { okAllowed: true } : { okAllowed: false, invalidPath: 'data' },
        })
      } else if (m === 7) {
        // Nested junk in a field.
        data[field] = { nested: junk(r), deep: junk(r) }
        push({
          base: type,
          mutation: `nested-junk ${field}`,
          frame: envelope(type, data, id),
          id,
          target: cls,
          expect: { okAllowed: false, invalidPath: pathOf(field) },
        })
      } else if (m === 8) {
        // Extra fields, prototype-pollution keys among them: ignored, the message is as valid as before.
        const body = JSON.stringify(data).slice(1, -1)
        const extras = Array.from({ length: r.int(1, 4) }, () =>
          rawPair(r.pick([...POLLUTION_KEYS, 'extra', '😀', '']), r.pick([{ polluted: 'yes' }, junk(r), 'x'])),
        )
        const text = `{"type":${JSON.stringify(type)},"data":{${[body, ...extras].filter(Boolean).join(',')}},"id":${JSON.stringify(id)},${rawPair('__proto__', { polluted: 'env' })},${rawPair('constructor', { prototype: { polluted: 'env' } })}}`
        push({
          base: type,
          mutation: 'extra-and-pollution-keys',
          frame: text,
          id,
          target: cls,
          expect: validExpect(type, cls, 'vmId' in data),
        })
      } else if (m === 9) {
        // Duplicated keys: JSON.parse keeps the last; junk first stays valid, junk last is invalid.
        const junkLast = r.chance(0.5)
        const good = rawPair(field, data[field] ?? null)
        const bad = rawPair(field, wrongTyped(spec, r))
        const rest = Object.keys(data)
          .filter(k => k !== field)
          .map(k => rawPair(k, data[k]))
        const fields = junkLast ? [...rest, good, bad] : [...rest, bad, good]
        const text = `{"type":"vm-status","type":${JSON.stringify(type)},"data":{${fields.join(',')}},"id":${JSON.stringify(id)}}`
        push({
          base: type,
          mutation: `duplicate-key ${field} (${junkLast ? 'junk last' : 'junk first'})`,
          frame: text,
          id,
          target: cls,
          expect:
            junkLast || data[field] === undefined
              ? { okAllowed: false, invalidPath: pathOf(field) }
              : validExpect(type, cls, 'vmId' in data),
        })
      } else if (m === 10) {
        // Wrong-case, padded or server-side type names, and keys of Object.prototype.
        const bad = r.pick(
          [
            type.toUpperCase(),
            type[0]!.toUpperCase() + type.slice(1),
            ` ${type}`,
            `${type}\u0000`,
            type.replace('-', '_'),
            `${type}-response`,
            '__proto__',
            'constructor',
            'toString',
            'hasOwnProperty',
            'error',
            'vm-status',
            'terminal-output',
          ].filter(v => v !== type),
        )
        push({
          base: type,
          mutation: `type=${JSON.stringify(bad)}`,
          frame: envelope(bad, data, id),
          id,
          target: cls,
          expect: { okAllowed: false, codes: ['UNKNOWN_TYPE'] },
        })
      } else if (m === 11) {
        // A missing or non-string type.
        const bad = r.pick<unknown>([undefined, 5, null, true, [], [type], { type }, ''])
        push({
          base: type,
          mutation: `type=${JSON.stringify(bad)}`,
          frame: JSON.stringify({ type: bad, data, id }),
          id,
          target: cls,
          expect: { okAllowed: false, invalidPath: 'type' },
        })
      } else if (m === 12) {
        // Unicode (valid strings) in every string field that allows it.
        for (const [f, fd] of Object.entries(variant.fields)) {
          if (fd.spec.t === 'sessionId' && r.chance(0.5)) data[f] = r.pick(UNICODE).repeat(r.int(1, 20))
          if (fd.spec.t === 'str' && fd.spec.max >= 32 && typeof data[f] === 'string')
            data[f] = `${data[f] as string}${r.pick(UNICODE)}`
        }
        const uvm = `${r.pick(t.missing)}${r.pick(UNICODE)}`
        const useU = 'vmId' in data && r.chance(0.5)
        if (useU) data.vmId = uvm
        push({
          base: type,
          mutation: 'unicode',
          frame: envelope(type, data, id),
          id,
          target: useU ? 'missing' : cls,
          expect: validExpect(type, useU ? 'missing' : cls, 'vmId' in data),
        })
      } else {
        // Well-formed.
        push({
          base: type,
          mutation: 'valid',
          frame: envelope(type, data, id),
          id,
          target: cls,
          expect: validExpect(type, cls, 'vmId' in data),
        })
      }
    }
  }

  // auth on an authenticated socket: schema errors, another user's token (refused, socket stays), a renewal.
  for (let i = 0; i < 40; i++) {
    const id = nextId()
    const k = i % 8
    const d =
      k === 0
        ? {}
        : k === 1
          ? { token: '' }
          : k === 2
            ? { token: r.pick([5, null, true, [], {}]) }
            : k === 3
              ? { tok: 'x' }
              : k === 4
                ? { token: { __proto__: { polluted: 1 } } }
                : null
    if (k <= 5) {
      push({
        base: 'auth',
        mutation: `auth ${JSON.stringify(d)}`,
        frame: envelope('auth', d, id),
        id,
        target: 'none',
        expect: { okAllowed: false, invalidPath: k === 5 ? 'data' : 'data.token' },
      })
    } else if (k === 6) {
      push({
        base: 'auth',
        mutation: "another user's token",
        frame: envelope('auth', { token: opts.otherToken }, id),
        id,
        target: 'none',
        expect: { okAllowed: false, codes: ['UNAUTHORIZED'] },
      })
    } else {
      push({
        base: 'auth',
        mutation: 'own token again',
        frame: envelope('auth', { token: opts.ownToken }, id),
        id,
        target: 'none',
        expect: { okAllowed: true },
      })
    }
  }

  // A few real sessions: valid SSH credentials (and one wrong password) on the ssh VM, VNC connects.
  const sessionCases: Omit<FuzzCase, 'index'>[] = []
  for (let i = 0; i < 4; i++) {
    const id = nextId()
    sessionCases.push({
      base: 'terminal-connect',
      mutation: 'real ssh session',
      frame: envelope(
        'terminal-connect',
        { vmId: t.ssh, type: 'ssh', credentials: t.sshCreds, cols: r.int(1, 1000), rows: r.int(1, 1000) },
        id,
      ),
      id,
      target: 'ssh',
      expect: { okAllowed: true },
    })
  }
  {
    const id = nextId()
    sessionCases.push({
      base: 'terminal-connect',
      mutation: 'wrong ssh password',
      frame: envelope(
        'terminal-connect',
        { vmId: t.ssh, type: 'ssh', credentials: { username: t.sshCreds.username, password: 'wrong-😀' } },
        id,
      ),
      id,
      target: 'ssh',
      expect: { okAllowed: false, codes: ['TERMINAL_AUTH_FAILED'] },
    })
  }
  for (let i = 0; i < 3; i++) {
    const id = nextId()
    sessionCases.push({
      base: 'vnc-connect',
      mutation: 'real vnc session',
      frame: envelope('vnc-connect', { vmId: t.vnc, transport: i === 1 ? 'websocket' : 'json' }, id),
      id,
      target: 'vnc',
      expect: { okAllowed: true },
    })
  }
  // Shuffle everything (Fisher–Yates, seeded), then put the session openers early so later input reaches them.
  for (let i = cases.length - 1; i > 0; i--) {
    const j = r.int(0, i)
    ;[cases[i], cases[j]] = [cases[j]!, cases[i]!]
  }
  cases.splice(5, 0, ...sessionCases.map(c => ({ index: 0, ...c })))
  cases.forEach((c, i) => (c.index = i))
  return cases
}

export interface RawCase {
  index: number
  mutation: string
  frame: string | Buffer
  /** A reply must name this field (INVALID_MESSAGE), when set. */
  field?: string
  /** The id the reply carries, if the server can read one. */
  id?: string | number
  code: string
}

/**
 * Frames without a usable id: not JSON, truncated, not an object, binary,
 * and envelopes whose id has a wrong type. Each must get exactly one error
 * reply (without id, except where noted), sent one at a time.
 */
export function generateRaw(seed: number, sample: string): RawCase[] {
  const r = new Picker(rng(seed ^ 0x7a11))
  const out: Omit<RawCase, 'index'>[] = []
  for (let i = 0; i < 12; i++) {
    const cut = r.int(1, sample.length - 1)
    out.push({ mutation: `truncated at ${cut}`, frame: sample.slice(0, cut), code: 'INVALID_MESSAGE' })
  }
  for (const text of [
    '',
    ' ',
    'NaN',
    'Infinity',
    'undefined',
    "{'type':'subscribe'}",
    '{"type":"subscribe","data":{"topic":"vm-status","interval":NaN},"id":1}',
    '{"type":"subscribe","id":1,}',
    '{"type":"subscribe" "id":1}',
    '\u0000',
    '\ufeff{"type":"subscribe","data":{"topic":"vm-status"}}',
    '{"type":"subscribe","data":{"topic":"vm-status"}}}',
    '['.repeat(5000),
    '{"a":'.repeat(3000),
  ])
    out.push({ mutation: `not JSON ${JSON.stringify(text.slice(0, 30))}`, frame: text, code: 'INVALID_MESSAGE' })
  for (const text of ['[]', '42', '-1e308', 'null', 'true', '"vm-control"', '[{"type":"subscribe","id":"a"}]'])
    out.push({ mutation: `not an object ${text}`, frame: text, code: 'INVALID_MESSAGE' })
  for (const id of [null, true, false, {}, [], { a: 1 }, ['x']])
    out.push({
      mutation: `id=${JSON.stringify(id)}`,
      frame: JSON.stringify({ type: 'subscribe', data: { topic: 'vm-status' }, id }),
      field: 'id',
      code: 'INVALID_MESSAGE',
    })
  out.push({
    mutation: 'binary JSON message',
    frame: Buffer.from(JSON.stringify({ type: 'subscribe', data: { topic: 'vm-status' }, id: 'bin' })),
    code: 'INVALID_MESSAGE',
  })
  for (let i = 0; i < 4; i++)
    out.push({ mutation: 'binary random bytes', frame: Buffer.from(r.bytes(r.int(1, 4096))), code: 'INVALID_MESSAGE' })
  out.push({ mutation: 'binary empty', frame: Buffer.alloc(0), code: 'INVALID_MESSAGE' })
  // Over-long string ids are echoed (they are readable) but refused.
  for (const n of [257, 5000, 300_000]) {
    const id = `L${n}`.padEnd(n, 'd')
    out.push({
      mutation: `id of ${n} chars`,
      frame: JSON.stringify({ type: 'subscribe', data: { topic: 'vm-status' }, id }),
      id,
      field: 'id',
      code: 'INVALID_MESSAGE',
    })
  }
  return out.map((c, index) => ({ index, ...c }))
}
