/**
 * The data dir (users, token secret, audit log, pinned host keys) and the
 * atomic file writes everything in it relies on.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, open, rename, rm, chmod } from 'node:fs/promises'
import { homedir, platform } from 'node:os'
import { dirname, join } from 'node:path'

/** The platform's per-user config dir for VoidVM (XDG on Linux). */
export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const home = homedir()
  switch (platform()) {
    case 'win32':
      return join(env.APPDATA ?? join(home, 'AppData', 'Roaming'), 'VoidVM')
    case 'darwin':
      return join(home, 'Library', 'Application Support', 'VoidVM')
    default:
      return join(env.XDG_CONFIG_HOME || join(home, '.config'), 'voidvm')
  }
}

/** Creates the data dir (mode 0700: it holds secrets). */
export async function ensureDataDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 })
}

/**
 * Writes `data` to `file` so that a crash at any moment leaves either the old
 * or the new content, never a torn file: write a temp file beside it, fsync,
 * rename over the target, fsync the directory.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o600): Promise<void> {
  const tmp = join(dirname(file), `.${file.split(/[\\/]/).pop()}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const fh = await open(tmp, 'wx', mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } catch (err) {
    await fh.close().catch(() => undefined)
    await rm(tmp, { force: true })
    throw err
  }
  await fh.close()
  // open() honours the umask; make sure the final mode is exactly what was asked.
  await chmod(tmp, mode)
  await rename(tmp, file)
  try {
    const dh = await open(dirname(file), 'r')
    await dh.sync().finally(() => dh.close())
  } catch {
    // Directory fsync is not supported everywhere (e.g. Windows); the rename is still atomic.
  }
}
