#!/usr/bin/env node
/**
 * `voidvm-server`: the headless VoidVM server and its admin commands. Runs
 * under plain Node; never imports electron.
 */
import { runCli } from './server/cli.js'

runCli(process.argv.slice(2)).then(
  code => {
    if (code !== undefined) process.exitCode = code
  },
  (err: unknown) => {
    console.error(`voidvm-server: ${err instanceof Error ? err.message : String(err)}`)
    process.exitCode = 1
  },
)
