#!/usr/bin/env node
// `npm start`: build, then launch the desktop app. Where the Electron binary
// is not installed (it is downloaded on first use, which needs network access
// to Electron's release host) say so plainly and point to the headless server.
import { spawnSync, spawn } from 'node:child_process'
import { electronBinary, MISSING_ELECTRON } from './electron-binary.mjs'

const bin = electronBinary()
if (!bin) {
  console.error(MISSING_ELECTRON)
  process.exit(1)
}

const build = spawnSync('npx', ['electron-vite', 'build'], { stdio: 'inherit' })
if (build.status !== 0) process.exit(build.status ?? 1)
const child = spawn(bin, ['.'], { stdio: 'inherit' })
child.on('exit', code => process.exit(code ?? 0))
