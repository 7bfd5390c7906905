/**
 * Coalesces bursts (200 vm-status pushes per second) into one store update per
 * frame. Falls back to a macrotask where there is no requestAnimationFrame
 * (tests, hidden tabs throttle rAF so the timeout also caps the delay).
 */
export type FlushScheduler = (flush: () => void) => void

export const frameScheduler: FlushScheduler = flush => {
  let done = false
  const run = () => {
    if (done) return
    done = true
    // A frame came first: drop the fallback, so it costs no task of its own.
    clearTimeout(timer)
    flush()
  }
  if (typeof requestAnimationFrame === 'function') requestAnimationFrame(run)
  // Background tabs get no frames; flush anyway so state stays current.
  const timer = setTimeout(run, 100)
}
