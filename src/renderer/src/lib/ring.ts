/**
 * Fixed-capacity time series kept in typed arrays, so a VM's 5-minute history
 * costs a few KiB and appending never allocates.
 */
export class Ring {
  readonly capacity: number
  private readonly buf: Float64Array
  private start = 0
  private len = 0

  constructor(capacity: number) {
    this.capacity = capacity
    this.buf = new Float64Array(capacity)
  }

  get length(): number {
    return this.len
  }

  // Wrap-around by comparison, not %: these run 1,400 times per second for 200 VMs.
  push(v: number): void {
    if (this.len < this.capacity) {
      let j = this.start + this.len
      if (j >= this.capacity) j -= this.capacity
      this.buf[j] = v
      this.len++
    } else {
      this.buf[this.start] = v
      this.start = this.start + 1 === this.capacity ? 0 : this.start + 1
    }
  }

  /** The i-th oldest value (0 = oldest). */
  at(i: number): number {
    let j = this.start + i
    if (j >= this.capacity) j -= this.capacity
    return this.buf[j] ?? 0
  }

  last(): number | undefined {
    return this.len === 0 ? undefined : this.at(this.len - 1)
  }

  /** The newest `n` values (all when omitted), oldest first. */
  toArray(n = this.len): number[] {
    const count = Math.min(n, this.len)
    const out = new Array<number>(count)
    const from = this.len - count
    for (let i = 0; i < count; i++) out[i] = this.at(from + i)
    return out
  }

  max(n = this.len): number {
    const count = Math.min(n, this.len)
    let m = 0
    for (let i = this.len - count; i < this.len; i++) m = Math.max(m, this.at(i))
    return m
  }
}

/** Several aligned series sharing one time axis (seconds since epoch). */
export class SeriesSet<K extends string> {
  readonly time: Ring
  readonly series: Record<K, Ring>
  private readonly keys: readonly K[]

  constructor(keys: readonly K[], capacity: number) {
    this.keys = keys
    this.time = new Ring(capacity)
    this.series = Object.fromEntries(keys.map(k => [k, new Ring(capacity)])) as Record<K, Ring>
  }

  push(t: number, values: Record<K, number>): void {
    this.time.push(t)
    for (const k of this.keys) this.series[k].push(values[k])
  }

  get length(): number {
    return this.time.length
  }
}
