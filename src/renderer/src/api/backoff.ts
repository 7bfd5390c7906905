/** Exponential reconnect delay with jitter, so many clients don't reconnect in lockstep. */
export interface BackoffOptions {
  minMs: number
  maxMs: number
  /** Fraction of the delay added or removed at random (0–1). */
  jitter: number
}

export const DEFAULT_BACKOFF: BackoffOptions = { minMs: 500, maxMs: 15_000, jitter: 0.2 }

export function backoffDelay(attempt: number, o: BackoffOptions = DEFAULT_BACKOFF, random = Math.random): number {
  const base = Math.min(o.maxMs, o.minMs * 2 ** Math.max(0, attempt))
  const spread = base * o.jitter
  return Math.round(Math.max(o.minMs / 2, base - spread + random() * 2 * spread))
}
