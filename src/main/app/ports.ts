/**
 * Port selection for the embedded server: the configured port when it is
 * free, otherwise an ephemeral one, so a second VoidVM (or anything else on
 * that port) never stops the app from starting.
 */
import { createServer } from 'node:net'

export function isAddressInUse(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | null)?.code
  return code === 'EADDRINUSE' || code === 'EACCES'
}

/** True when nothing listens on host:port right now (a hint only: use listenWithFallback to bind). */
export function isPortFree(host: string, port: number): Promise<boolean> {
  return new Promise(resolve => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)))
  })
}

export interface FallbackResult<T> {
  value: T
  /** The configured port was taken and an ephemeral one was used instead. */
  fellBack: boolean
}

/**
 * Runs `start(port)` with the preferred port and, when that port is in use
 * (or not allowed), once more with 0 (ephemeral). Other errors propagate.
 * Binding directly avoids the race of checking first and binding later.
 */
export async function listenWithFallback<T>(
  preferred: number,
  start: (port: number) => Promise<T>,
): Promise<FallbackResult<T>> {
  if (!Number.isInteger(preferred) || preferred < 0 || preferred > 65535) {
    throw new RangeError(`port must be an integer from 0 to 65535, got ${preferred}`)
  }
  try {
    return { value: await start(preferred), fellBack: false }
  } catch (err) {
    if (preferred === 0 || !isAddressInUse(err)) throw err
    return { value: await start(0), fellBack: true }
  }
}
