#!/usr/bin/env node
// `npm run bench -- NAME`: runs bench/NAME.ts (under tsx). Each benchmark runs
// its peer side by side and ends with a line `RESULT <metric-name> <number>`.
import { spawn } from 'node:child_process'
import { existsSync, readdirSync } from 'node:fs'

const available = readdirSync(new URL('../bench/', import.meta.url))
  .filter(f => f.endsWith('.ts') && !f.startsWith('_'))
  .map(f => f.slice(0, -3))
const name = process.argv[2]
if (!name || !available.includes(name)) {
  console.error(`usage: npm run bench -- NAME\navailable: ${available.join(', ') || '(none yet)'}`)
  process.exit(2)
}
const file = new URL(`../bench/${name}.ts`, import.meta.url)
if (!existsSync(file)) process.exit(2)
const child = spawn(process.execPath, ['--import', 'tsx', file.pathname, ...process.argv.slice(3)], {
  stdio: 'inherit',
})
child.on('exit', code => process.exit(code ?? 1))
