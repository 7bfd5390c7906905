/**
 * The guest screen size `vnc-input` checks coordinates against. The proxy
 * never parses QEMU's framebuffer updates (so it cannot see a DesktopSize
 * change in the stream); instead, when a coordinate falls outside the size it
 * knows, it re-learns the current size from a fresh ServerInit — QEMU reports
 * the framebuffer size of the moment there — at most once per interval.
 */

export interface Size {
  width: number
  height: number
}

export class ScreenSize {
  private size: Size
  private lastProbe = Number.NEGATIVE_INFINITY
  private inflight?: Promise<void>
  /** Why the last re-read failed, if it did (said in the refusal). */
  private failure?: string

  constructor(
    initial: Size,
    /** Reads the current size (a short extra RFB connection); may reject. */
    private readonly probe: () => Promise<Size>,
    private readonly minIntervalMs = 1000,
    private readonly now: () => number = Date.now,
  ) {
    this.size = { width: initial.width, height: initial.height }
  }

  get width(): number {
    return this.size.width
  }
  get height(): number {
    return this.size.height
  }
  /** Why the last re-read failed, or undefined when it worked (or none was needed yet). */
  get lastFailure(): string | undefined {
    return this.failure
  }

  private fits(x: number, y: number): boolean {
    return x < this.size.width && y < this.size.height
  }

  /**
   * Whether (x, y) lies on the screen. A point outside the known size first
   * re-reads the size (unless that happened within the interval) and is
   * checked again against the result.
   */
  async contains(x: number, y: number): Promise<boolean> {
    if (this.fits(x, y)) return true
    await this.refresh()
    return this.fits(x, y)
  }

  /** Re-reads the size unless a re-read is running (joined) or ran within the interval. */
  refresh(): Promise<void> {
    if (this.inflight) return this.inflight
    const t = this.now()
    if (t - this.lastProbe < this.minIntervalMs) return Promise.resolve()
    this.lastProbe = t
    this.inflight = this.probe()
      .then(
        s => {
          this.size = { width: s.width, height: s.height }
          this.failure = undefined
        },
        (e: unknown) => {
          this.failure = e instanceof Error ? e.message : String(e)
        },
      )
      .finally(() => {
        this.inflight = undefined
      })
    return this.inflight
  }
}
