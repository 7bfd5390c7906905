/**
 * Argument parsing and dispatch for `voidvm-server`. Every option also reads
 * an environment variable (VOIDVM_PORT, VOIDVM_DATA_DIR, …).
 */
import { startServer } from './index.js'

export const USAGE = `Usage: voidvm-server <command> [options]

Commands:
  serve                       Run the VoidVM server (HTTP + WebSocket API + web UI)
    --host HOST               Address to bind (default 127.0.0.1; VOIDVM_HOST)
    --port PORT               Port (default 3000; VOIDVM_PORT)
    --data-dir DIR            Users, secrets, audit log (VOIDVM_DATA_DIR)
    --libvirt-uri URI         libvirt connection (default qemu:///system; VOIDVM_LIBVIRT_URI)
    --tls-cert F --tls-key F  Serve HTTPS/WSS (VOIDVM_TLS_CERT, VOIDVM_TLS_KEY)
    --locale en|zh-CN         Language of event messages (VOIDVM_LOCALE)
    --allow-origin URL        Extra browser origin allowed to connect (repeatable; VOIDVM_ALLOW_ORIGIN)
  user add NAME --role admin|operator|viewer [--password-stdin]
  user remove NAME
  user passwd NAME [--password-stdin]
  user list
  user grant NAME VM-PATTERN  Let NAME reach VMs matching the glob ('*' = all)
  token NAME [--ttl 12h]      Print a JWT for NAME on stdout

Every command takes --data-dir DIR. Run 'voidvm-server <command> --help' for details.
`

export async function runCli(argv: string[]): Promise<number | undefined> {
  const [command] = argv
  if (!command || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE)
    return command ? 0 : 1
  }
  if (command === 'serve') {
    const port = Number(process.env.VOIDVM_PORT ?? 3000)
    const host = process.env.VOIDVM_HOST ?? '127.0.0.1'
    const server = await startServer({ host, port })
    process.stdout.write(`VoidVM server listening on ${server.url}\n`)
    const stop = () => void server.close().then(() => process.exit(0))
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
    return undefined
  }
  process.stderr.write(`voidvm-server: unknown command '${command}'\n\n${USAGE}`)
  return 2
}
