#!/usr/bin/env node
// The headless server, built by `npm run build` into out/main/headless.js.
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'

const entry = fileURLToPath(new URL('../out/main/headless.js', import.meta.url))
if (!existsSync(entry)) {
  console.error('voidvm-server: not built yet. Run `npm run build` first (it writes out/main/headless.js).')
  process.exit(1)
}
await import(entry)
