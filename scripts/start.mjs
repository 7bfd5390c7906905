#!/usr/bin/env node
// `npm start`: build, then launch the desktop app. Where the Electron binary
// is not installed (it is downloaded on first use, which needs network access
// to Electron's release host) say so plainly and point to the headless server.
import { spawnSync, spawn } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)

function electronBinary() {
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

const bin = electronBinary()
if (!bin) {
  console.error(`
VoidVM: the Electron binary is missing, so the desktop app cannot start.

  The electron package downloads its binary on first use; that download was
  not possible here (or has not happened yet). To get it on a machine with
  internet access run:  npx install-electron

Meanwhile VoidVM runs fine without Electron:

  npm run server            build and start the headless server on http://127.0.0.1:3000
  then open that address in a browser (create a user first, see README.md:
  "voidvm-server user add NAME --role admin").
`)
  process.exit(1)
}

const build = spawnSync('npx', ['electron-vite', 'build'], { stdio: 'inherit' })
if (build.status !== 0) process.exit(build.status ?? 1)
const child = spawn(bin, ['.'], { stdio: 'inherit' })
child.on('exit', code => process.exit(code ?? 0))
