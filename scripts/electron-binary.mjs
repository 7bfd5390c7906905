// Where the Electron binary is, if it is installed; shared by `npm start` and `npm run dev`.
// The electron package downloads its binary on first use, which needs network access
// to Electron's release host: without it there is no binary, and both say so plainly.
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'

const require = createRequire(import.meta.url)

export function electronBinary() {
  let pkgDir
  try {
    pkgDir = dirname(require.resolve('electron/package.json'))
  } catch {
    return null
  }
  const pathFile = join(pkgDir, 'path.txt')
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH
  const rel = existsSync(pathFile) ? readFileSync(pathFile, 'utf8').trim() : null
  const bin = override ? join(override, rel ?? 'electron') : rel ? join(pkgDir, 'dist', rel) : null
  return bin && existsSync(bin) ? bin : null
}

export const MISSING_ELECTRON = `
VoidVM: the Electron binary is missing, so the desktop app cannot start.

  The electron package downloads its binary on first use; that download was
  not possible here (or has not happened yet). To get it on a machine with
  internet access run:  npx install-electron

Meanwhile VoidVM runs fine without Electron:

  npm run server            build and start the headless server on http://127.0.0.1:3000
  then open that address in a browser (create a user first, see README.md:
  "voidvm-server user add NAME --role admin").
`
