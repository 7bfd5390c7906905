/**
 * The renderer end to end, in Chromium against the real voidvm-server on
 * qemu:///system with two of our own TCG test domains (one runs, one stays
 * off) and the loopback OpenSSH server. Flows run in order on one page, as a
 * user would: log in, drive the guest, open its console and terminals, look
 * at the host, switch language; then a viewer account sees actions disabled.
 * Screenshots of each view go to test-results/ui/.
 */
import { test, expect, type Page, type BrowserContext } from '@playwright/test'
import { readFile } from 'node:fs/promises'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { startE2eServer, type E2eServer, type E2eUser } from './server.js'
import { defineTestGuest, guestImagesReady, virsh, type TestGuest } from '../test/fixtures/guest.js'
import { startSshd, TEST_PASSWORD, TEST_USER, type TestSshd } from '../test/fixtures/sshd.js'
import { connect } from '../test/fixtures/ws-client.js'

const GUEST = 'voidvm-t-ui-guest'
const IDLE = 'voidvm-t-ui-idle'
const NOGFX = 'voidvm-t-ui-nogfx'
// Screenshots of each view (VOIDVM_UI_SHOTS moves them out of the shared test-results folder).
const SHOTS = process.env.VOIDVM_UI_SHOTS ?? 'test-results/ui'

test.describe.configure({ mode: 'serial' })
test.skip(!guestImagesReady(), 'test guest images missing: run scripts/host-setup.sh as root')

let server: E2eServer
let sshd: TestSshd
let guest: TestGuest
let idle: TestGuest
let nogfx: TestGuest | undefined
let admin: E2eUser
let viewer: E2eUser
let context: BrowserContext
let page: Page
const pageErrors: string[] = []

const row = (p: Page, name: string) => p.locator(`tr[data-vm="${name}"]`)
const badge = (p: Page, name: string) => row(p, name).getByTestId('vm-status')

/** The server's audit log (one JSON object per line), to see which requests the UI really sent. */
async function auditLog(): Promise<{ username?: string; action: string; vmId?: string; result: string }[]> {
  const text = await readFile(join(server.dataDir, 'audit.log'), 'utf8').catch(() => '')
  return text
    .split('\n')
    .filter(Boolean)
    .map(l => JSON.parse(l) as { username?: string; action: string; vmId?: string; result: string })
}

/** The slice of a canvas element the pixel checks use (this file compiles without the DOM lib). */
interface Canvas2D {
  width: number
  height: number
  getContext(
    kind: '2d',
  ): { getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> } } | null
}

async function shot(p: Page, name: string): Promise<void> {
  await p.screenshot({ path: `${SHOTS}/${name}.png`, fullPage: false })
}

async function login(p: Page, u: E2eUser): Promise<void> {
  await p.goto(server.url)
  await p.getByLabel('Username').fill(u.username)
  await p.getByLabel('Password').fill(u.password)
  await p.getByRole('button', { name: 'Sign in' }).click()
  await expect(p.getByTestId('connection-state')).toHaveAttribute('data-state', 'open', { timeout: 15_000 })
}

async function xtermText(p: Page): Promise<string> {
  return (await p.getByTestId('terminal-pane').locator('.xterm-rows').innerText()).replace(/\u00a0/g, ' ')
}

async function typeInTerminal(p: Page, text: string): Promise<void> {
  await p.getByTestId('terminal-pane').locator('.xterm').click()
  await p.keyboard.type(text, { delay: 15 })
  await p.keyboard.press('Enter')
}

/** Presses Enter until the guest's serial shell shows its prompt (it may still be booting). */
async function waitForGuestPrompt(p: Page): Promise<void> {
  await p.getByTestId('terminal-pane').locator('.xterm').click()
  await expect
    .poll(
      async () => {
        await p.keyboard.press('Enter')
        await p.waitForTimeout(700)
        return xtermText(p)
      },
      { timeout: 40_000, intervals: [200] },
    )
    .toContain('guest#')
}

test.beforeAll(async ({ browser }) => {
  test.setTimeout(120_000)
  sshd = await startSshd()
  guest = await defineTestGuest({ name: GUEST, ssh: { host: '127.0.0.1', port: sshd.port } })
  idle = await defineTestGuest({ name: IDLE })
  server = await startE2eServer({ libvirtUri: 'qemu:///system' })
  admin = await server.addUser('voidvm-t-ui-admin', 'admin')
  viewer = await server.addUser('voidvm-t-ui-viewer', 'viewer')
  context = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'light' })
  await context.grantPermissions(['clipboard-read', 'clipboard-write'])
  page = await context.newPage()
  page.on('pageerror', e => pageErrors.push(e.message))
})

test.afterAll(async () => {
  await context?.close()
  await server?.stop()
  await guest?.remove().catch(() => undefined)
  await idle?.remove().catch(() => undefined)
  await nogfx?.remove().catch(() => undefined)
  await sshd?.stop()
})

test('login: a wrong password is refused with a clear reason, the right one opens the app', async () => {
  await page.goto(server.url)
  await expect(page.getByRole('heading', { name: 'VoidVM' })).toBeVisible()
  await page.getByLabel('Username').fill(admin.username)
  await page.getByLabel('Password').fill('not-the-password')
  await page.getByRole('button', { name: 'Sign in' }).click()
  await expect(page.getByRole('alert')).toContainText('Wrong username or password')
  await shot(page, '01-login-refused')
  await login(page, admin)
  await expect(page.getByRole('heading', { name: 'Virtual machines', level: 2 })).toBeVisible()
  await expect(page.getByTestId('role')).toHaveText('Administrator')
})

test('the list shows both domains with their live state', async () => {
  await expect(row(page, GUEST)).toBeVisible({ timeout: 15_000 })
  await expect(row(page, IDLE)).toBeVisible()
  await expect(badge(page, GUEST)).toHaveAttribute('data-status', 'stopped')
  await expect(badge(page, IDLE)).toHaveAttribute('data-status', 'stopped')
  // The filter narrows the list to our domains.
  await page.getByRole('searchbox').fill('voidvm-t-ui-')
  await expect(page.locator('tr.vm-row')).toHaveCount(2)
  await shot(page, '02-vm-list')
})

test('start, pause and resume the guest from the UI and watch the badges', async () => {
  test.setTimeout(120_000)
  await row(page, GUEST)
    .getByRole('button', { name: `Start ${GUEST}` })
    .click()
  await expect(badge(page, GUEST)).toHaveAttribute('data-status', 'running', { timeout: 30_000 })
  await row(page, GUEST)
    .getByRole('button', { name: `Pause ${GUEST}` })
    .click()
  await expect(badge(page, GUEST)).toHaveAttribute('data-status', 'paused', { timeout: 30_000 })
  await shot(page, '03-vm-paused')
  await row(page, GUEST)
    .getByRole('button', { name: `Resume ${GUEST}` })
    .click()
  await expect(badge(page, GUEST)).toHaveAttribute('data-status', 'running', { timeout: 30_000 })
  // The idle domain was never touched.
  await expect(badge(page, IDLE)).toHaveAttribute('data-status', 'stopped')
})

test('the VM detail draws the live CPU chart', async () => {
  await row(page, GUEST)
    .getByRole('button', { name: `Open ${GUEST}` })
    .click()
  await expect(page.getByRole('heading', { name: GUEST, level: 2 })).toBeVisible()
  const cpu = page.getByRole('figure', { name: 'CPU' })
  // A few 1 s samples, then the plotted line must have coloured pixels.
  await expect
    .poll(async () => Number(await cpu.locator('.chart-box').getAttribute('data-points')), { timeout: 20_000 })
    .toBeGreaterThanOrEqual(4)
  // The booting guest uses CPU: the plotted line must leave the zero line and paint blue pixels.
  const painted = () =>
    cpu.locator('canvas').evaluate((el: unknown) => {
      const c = el as Canvas2D
      const ctx = c.getContext('2d')
      if (!ctx) return 0
      const d = ctx.getImageData(0, 0, c.width, c.height).data
      let n = 0
      // The CPU series colour is blue (#3b82f6): count bluish opaque pixels.
      for (let i = 0; i < d.length; i += 4) if ((d[i + 3] ?? 0) > 200 && (d[i + 2] ?? 0) > 180 && (d[i] ?? 0) < 120) n++
      return n
    })
  await expect.poll(painted, { timeout: 20_000 }).toBeGreaterThan(40)
  // The configuration from vm-info: architecture, the virtio disk with its size, the NIC by its MAC.
  await expect(page.getByTestId('vm-arch')).toHaveText('x86_64 · hvm')
  const disks = page.getByTestId('vm-disks')
  await expect(disks.getByRole('row').nth(1)).toContainText('vda')
  await expect(disks.getByRole('row').nth(1)).toContainText('disk · virtio · raw')
  await expect(disks.getByRole('row').nth(1)).toContainText(/\d+(\.\d)? (MiB|GiB)/)
  const mac = /<mac address='([0-9a-f:]+)'/.exec(await virsh('dumpxml', GUEST))?.[1] ?? 'no MAC'
  await expect(page.getByTestId('vm-nics').getByRole('row').nth(1)).toContainText(mac)
  await page.getByRole('heading', { name: 'Devices' }).scrollIntoViewIfNeeded()
  await shot(page, '04-vm-detail')
  // "Starts with the host" is a switch for an admin: libvirt's setting follows each click.
  const autostart = page.getByRole('switch', { name: 'Starts with the host' })
  await expect(autostart).not.toBeChecked()
  const dominfoAutostart = async () => /^Autostart:\s+(\S+)/m.exec(await virsh('dominfo', GUEST))?.[1]
  await autostart.click()
  await expect(autostart).toBeChecked()
  await expect.poll(dominfoAutostart).toBe('enable')
  await autostart.click()
  await expect(autostart).not.toBeChecked()
  await expect.poll(dominfoAutostart).toBe('disable')
})

test('a serial terminal tab runs a command', async () => {
  test.setTimeout(90_000)
  await page.getByRole('tab', { name: 'Terminal' }).click()
  await page.getByRole('button', { name: 'New serial tab' }).click()
  await expect(page.getByTestId('terminal-pane')).toHaveAttribute('data-state', 'open', { timeout: 20_000 })
  await waitForGuestPrompt(page)
  await typeInTerminal(page, 'echo ui-$((6*7))-serial')
  await expect.poll(() => xtermText(page), { timeout: 15_000 }).toContain('ui-42-serial')
  await shot(page, '05-terminal-serial')
})

test('the console shows the guest screen, and pasted text reaches the guest as keystrokes', async () => {
  test.setTimeout(90_000)
  await page.getByRole('tab', { name: 'Console' }).click()
  await expect(page.getByTestId('console-state')).toHaveAttribute('data-phase', 'connected', { timeout: 20_000 })
  const canvas = page.getByTestId('vnc-screen').locator('canvas')
  await expect
    .poll(
      () =>
        canvas.evaluate((el: unknown) => {
          const c = el as Canvas2D
          const ctx = c.getContext('2d')
          if (!ctx || c.width === 0) return 0
          const d = ctx.getImageData(0, 0, c.width, c.height).data
          let lit = 0
          for (let i = 0; i < d.length; i += 16) if ((d[i] ?? 0) + (d[i + 1] ?? 0) + (d[i + 2] ?? 0) > 150) lit++
          return lit
        }),
      { timeout: 20_000 },
    )
    .toBeGreaterThan(50)
  await shot(page, '06-console')
  // Screenshot: a PNG named for the VM and the time, as large as the guest's screen, showing its text.
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.getByRole('button', { name: 'Screenshot' }).click(),
  ])
  expect(download.suggestedFilename()).toMatch(new RegExp(`^${GUEST}-\\d{8}-\\d{6}\\.png$`))
  const png = await readFile((await download.path())!)
  expect(png.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))).toBe(true)
  const size = await canvas.evaluate((el: unknown) => [(el as Canvas2D).width, (el as Canvas2D).height])
  expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual(size)
  // Decoded by the browser, the image has the console's lit text, not a blank screen.
  const litInShot = await page.evaluate(async (b64: string) => {
    type Img = { decode(): Promise<void>; src: string; width: number; height: number }
    type Ctx = {
      drawImage(i: Img, x: number, y: number): void
      getImageData(x: number, y: number, w: number, h: number): { data: ArrayLike<number> }
    }
    const doc = (globalThis as unknown as { document: { createElement(t: string): unknown } }).document
    const img = doc.createElement('img') as Img
    img.src = `data:image/png;base64,${b64}`
    await img.decode()
    const c = doc.createElement('canvas') as { width: number; height: number; getContext(k: '2d'): Ctx }
    c.width = img.width
    c.height = img.height
    const ctx = c.getContext('2d')
    ctx.drawImage(img, 0, 0)
    const d = ctx.getImageData(0, 0, c.width, c.height).data
    let lit = 0
    for (let i = 0; i < d.length; i += 16) if ((d[i] ?? 0) + (d[i + 1] ?? 0) + (d[i + 2] ?? 0) > 150) lit++
    return lit
  }, png.toString('base64'))
  expect(litInShot).toBeGreaterThan(50)
  // A character the console cannot type is refused with the reason, not typed with a gap.
  await page.getByRole('button', { name: 'Paste as keystrokes' }).click()
  await page.getByLabel('Text to type').fill('café')
  await page.getByRole('button', { name: 'Type it' }).click()
  const refused = page.locator('.toast[data-code="INVALID_MESSAGE"]')
  await expect(refused).toContainText('"é", U+00E9')
  await expect(refused).toContainText('US keyboard layout')
  await refused.getByRole('button', { name: 'Dismiss' }).click()
  // Typed on tty1 (the VNC screen), written to the serial console: it must show up in the serial tab.
  await page.getByRole('button', { name: 'Paste as keystrokes' }).click()
  await page.getByLabel('Text to type').fill('echo vnc-$((6*7))-paste > /dev/ttyS0\n')
  await shot(page, '07-console-paste-dialog')
  await page.getByRole('button', { name: 'Type it' }).click()
  await page.waitForTimeout(3000)
  await shot(page, '07b-console-after-paste')
  await page.getByRole('tab', { name: 'Terminal' }).click()
  await expect.poll(() => xtermText(page), { timeout: 20_000 }).toContain('vnc-42-paste')
})

test('an SSH terminal tab shows the host key on first use and runs a command', async () => {
  await page.getByRole('button', { name: 'New SSH tab' }).click()
  const dialog = page.getByRole('dialog', { name: `SSH to ${GUEST}` })
  await dialog.getByLabel('Username').fill(TEST_USER)
  await dialog.getByLabel('Password', { exact: true }).fill(TEST_PASSWORD)
  await shot(page, '08-ssh-dialog')
  await dialog.getByRole('button', { name: 'Connect' }).click()
  const pane = page.getByTestId('terminal-pane')
  await expect(pane).toHaveAttribute('data-state', 'open', { timeout: 20_000 })
  const fp = sshd.hostKeyFingerprint.replace(/^SHA256:/, '')
  await expect(page.getByTestId('hostkey')).toContainText(fp)
  await expect(page.getByTestId('hostkey')).toContainText('First connection')
  await typeInTerminal(page, 'echo ssh-$((6*7))-ok; whoami')
  await expect.poll(() => xtermText(page), { timeout: 15_000 }).toContain('ssh-42-ok')
  expect(await xtermText(page)).toContain(TEST_USER)
  // The remote pty has the tab's size, and follows it when the window changes.
  const box = page.getByTestId('terminal-pane').locator('.term-box')
  const size = async () => `${await box.getAttribute('data-rows')} ${await box.getAttribute('data-cols')}`
  const before = await size()
  await typeInTerminal(page, 'stty size')
  await expect.poll(() => xtermText(page)).toContain(`\n${before}\n`)
  await page.setViewportSize({ width: 1100, height: 760 })
  await expect.poll(size).not.toBe(before)
  const after = await size()
  await typeInTerminal(page, 'stty size')
  await expect.poll(() => xtermText(page)).toContain(`\n${after}\n`)
  await page.setViewportSize({ width: 1440, height: 900 })
  // Paste from the clipboard into the session.
  await page.evaluate(`navigator.clipboard.writeText('echo clip-$((6*7))-board')`)
  await page.getByTestId('terminal-pane').getByRole('button', { name: 'Paste' }).click()
  await expect.poll(() => xtermText(page)).toContain('echo clip-$((6*7))-board')
  await page.getByTestId('terminal-pane').locator('.xterm').click()
  await page.keyboard.press('Enter')
  await expect.poll(() => xtermText(page)).toContain('clip-42-board')
  // Both tabs stay open; the Terminals view lists them across views.
  await expect(page.getByRole('tablist', { name: 'Terminal tabs' }).getByRole('tab')).toHaveCount(2)
  await shot(page, '09-terminal-ssh')
  await page.getByRole('button', { name: 'Terminals' }).click()
  await expect(page.getByRole('tablist', { name: 'Terminal tabs' }).getByRole('tab')).toHaveCount(2)
  await expect.poll(() => xtermText(page)).toContain('ssh-42-ok')
})

test('a changed SSH host key is refused with a loud warning', async () => {
  await sshd.restart({ newHostKey: true })
  await page.getByRole('button', { name: 'Virtual machines' }).click()
  await row(page, GUEST)
    .getByRole('button', { name: `Open ${GUEST}` })
    .click()
  await page.getByRole('tab', { name: 'Terminal' }).click()
  await page.getByRole('button', { name: 'New SSH tab' }).click()
  const dialog = page.getByRole('dialog', { name: `SSH to ${GUEST}` })
  await dialog.getByLabel('Username').fill(TEST_USER)
  await dialog.getByLabel('Password', { exact: true }).fill(TEST_PASSWORD)
  await dialog.getByRole('button', { name: 'Connect' }).click()
  const alert = page.getByTestId('hostkey-mismatch')
  await expect(alert).toBeVisible({ timeout: 20_000 })
  await expect(alert).toContainText(`WARNING: the host key of ${GUEST} has changed!`)
  await expect(page.getByTestId('terminal-pane')).toHaveAttribute('data-state', 'error')
  // No "Reconnect" is offered past a mismatch.
  await expect(page.getByTestId('terminal-pane').getByRole('button', { name: 'Reconnect' })).toHaveCount(0)
  await shot(page, '09b-hostkey-mismatch')
})

test('the host dashboard says what the host is and shows one bar per core', async () => {
  await page.getByRole('button', { name: 'Host' }).click()
  await expect(page.getByRole('meter', { name: /^Core \d+$/ })).toHaveCount(cpus().length, { timeout: 15_000 })
  // The host's identity, as virsh tells it, and the VM count from the list.
  await expect(page.getByTestId('host-hostname')).toHaveText(await virsh('hostname'))
  const hv = /Running hypervisor:\s+(.+)/.exec(await virsh('version'))?.[1]?.trim() ?? 'no hypervisor version'
  await expect(page.getByTestId('host-hypervisor')).toContainText(hv)
  const all = (await virsh('list', '--all', '--name')).split('\n').filter(Boolean).length
  await expect(page.getByTestId('host-vms')).toContainText(`of ${all} running`)
  await page.getByLabel('Update interval').selectOption('1000')
  await page.waitForTimeout(2500)
  await shot(page, '10-host')
})

test('switching to 中文 translates the UI', async () => {
  await page.getByLabel('Language').selectOption('zh-CN')
  await expect(page.getByRole('heading', { name: '主机', level: 2 })).toBeVisible()
  await page.getByRole('button', { name: '虚拟机' }).click()
  await expect(page.getByRole('heading', { name: '虚拟机', level: 2 })).toBeVisible()
  await expect(badge(page, GUEST)).toHaveText(/运行中/)
  await expect(page.getByRole('columnheader', { name: '状态' })).toBeVisible()
  await shot(page, '11-vm-list-zh')
  await page.getByLabel('语言').selectOption('en')
  await expect(page.getByRole('heading', { name: 'Virtual machines', level: 2 })).toBeVisible()
})

test('shutting down asks for confirmation, the badge goes to stopped, the console says off and comes back on start; the events feed records it', async () => {
  test.setTimeout(120_000)
  await row(page, GUEST)
    .getByRole('button', { name: `Shut down ${GUEST}` })
    .click()
  const confirm = page.getByRole('dialog', { name: `Shut down ${GUEST}?` })
  await expect(confirm).toBeVisible()
  await shot(page, '12-confirm-shutdown')
  await confirm.getByRole('button', { name: 'Shut down' }).click()
  await expect(badge(page, GUEST)).toHaveAttribute('data-status', 'stopped', { timeout: 90_000 })
  // The console of a stopped VM says so plainly instead of a dead canvas.
  await row(page, GUEST)
    .getByRole('button', { name: `Open ${GUEST}` })
    .click()
  await page.getByRole('tab', { name: 'Console' }).click()
  await expect(page.getByTestId('console-state')).toHaveAttribute('data-phase', 'off')
  await expect(page.getByText('The VM is off. Start it to see its screen.').first()).toBeVisible()
  await shot(page, '12b-console-off')
  // Started again, the console comes back by itself.
  await page.getByRole('toolbar', { name: 'Actions' }).getByRole('button', { name: 'Start', exact: true }).click()
  await expect(page.getByTestId('console-state')).toHaveAttribute('data-phase', 'connected', { timeout: 30_000 })
  await page.waitForTimeout(1500)
  await shot(page, '12c-console-back')
  await page.getByRole('button', { name: /^Events/ }).click()
  await expect(page.locator(`li[data-event="vm-started"]`).filter({ hasText: GUEST }).first()).toBeVisible()
  await expect(page.locator(`li[data-event="vm-stopped"]`).filter({ hasText: GUEST }).first()).toBeVisible()
  await shot(page, '13-events')
  expect(pageErrors).toEqual([])
})

test('the console of a running VM without a VNC display says so, once, instead of reconnecting forever', async () => {
  test.setTimeout(90_000)
  nogfx = await defineTestGuest({ name: NOGFX, noGraphics: true })
  try {
    await nogfx.start()
    await page.getByRole('button', { name: 'Virtual machines' }).click()
    await page.getByRole('searchbox').fill('voidvm-t-ui-')
    await expect(badge(page, NOGFX)).toHaveAttribute('data-status', 'running', { timeout: 30_000 })
    await row(page, NOGFX)
      .getByRole('button', { name: `Open ${NOGFX}` })
      .click()
    await page.getByRole('tab', { name: 'Console' }).click()
    const state = page.getByTestId('console-state')
    await expect(state).toHaveAttribute('data-phase', 'no-display', { timeout: 15_000 })
    await expect(state).toHaveText('This VM has no VNC display.')
    // It stays that way: no reconnect loop, no error, nothing to retry.
    await page.waitForTimeout(5000)
    await expect(state).toHaveAttribute('data-phase', 'no-display')
    await expect(page.getByText(/Reconnecting|could not connect/)).toHaveCount(0)
    await expect(page.getByRole('button', { name: 'Reconnect' })).toHaveCount(0)
    await shot(page, '13c-console-no-display')
    const asked = (await auditLog()).filter(e => e.action === 'vnc-connect' && e.vmId === NOGFX)
    expect(asked.map(e => e.result)).toEqual(['error'])
  } finally {
    await nogfx.remove()
    nogfx = undefined
  }
})

test('a viewer sees every action disabled', async ({ browser }) => {
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 }, colorScheme: 'dark' })
  const p = await ctx.newPage()
  try {
    await login(p, viewer)
    await expect(p.getByTestId('role')).toHaveText('Viewer')
    await expect(row(p, GUEST)).toBeVisible({ timeout: 15_000 })
    // Whatever the VM's state, none of the row's action buttons can be pressed.
    await expect(row(p, GUEST).getByRole('button', { name: `Shut down ${GUEST}` })).toBeDisabled()
    expect(await row(p, GUEST).locator('button[data-action]').count()).toBeGreaterThan(0)
    await expect(row(p, GUEST).locator('button[data-action]:not([disabled])')).toHaveCount(0)
    await row(p, GUEST)
      .getByRole('button', { name: `Open ${GUEST}` })
      .click()
    const bar = p.getByRole('toolbar', { name: 'Actions' })
    for (const name of ['Start', 'Shut down', 'Force off', 'Reboot', 'Reset', 'Pause', 'Resume'])
      await expect(bar.getByRole('button', { name, exact: true })).toBeDisabled()
    // Autostart is shown, not offered as a switch.
    await expect(p.getByText('Starts with the host')).toBeVisible()
    await expect(p.getByRole('switch')).toHaveCount(0)
    // The server refuses consoles to viewers, so the tab says so and never asks for one.
    await p.getByRole('tab', { name: 'Console' }).click()
    await expect(p.getByTestId('console-state')).toHaveAttribute('data-phase', 'not-allowed')
    await expect(p.getByTestId('console-state')).toHaveText('Your role (Viewer) cannot open the console.')
    await expect(p.getByRole('button', { name: 'Paste as keystrokes' })).toBeDisabled()
    await p.waitForTimeout(2000)
    await expect(p.getByText(/could not connect|does not allow|Reconnecting/)).toHaveCount(0)
    await expect(p.getByRole('button', { name: 'Reconnect' })).toHaveCount(0)
    await expect(p.getByTestId('vnc-screen').locator('canvas')).toHaveCount(0)
    await expect(p.getByRole('button', { name: 'Fullscreen' })).toBeDisabled()
    await shot(p, '14a-viewer-console')
    await p.getByRole('tab', { name: 'Terminal' }).click()
    await expect(p.getByRole('button', { name: 'New SSH tab' })).toBeDisabled()
    await expect(p.getByText('Your role (Viewer) cannot open terminals.')).toBeVisible()
    await shot(p, '14-viewer-dark')
    // The server saw the viewer, and never a vnc-connect from them.
    const mine = (await auditLog()).filter(e => e.username === viewer.username)
    expect(mine.map(e => e.action)).toContain('login')
    expect(mine.filter(e => e.action.startsWith('vnc-'))).toEqual([])
  } finally {
    await ctx.close()
  }
})

test('the events feed names who acted: another user by name, the signed-in user as you', async ({ browser }) => {
  test.setTimeout(120_000)
  // An operator who may touch only the idle domain acts over the API while the admin watches in the UI.
  const op = await server.addUser('voidvm-t-ui-op', 'operator', { grants: [IDLE] })
  const api = await connect(server.wsUrl, await server.token(op.username))
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } })
  const p = await ctx.newPage()
  try {
    await login(p, admin)
    await p.getByRole('searchbox').fill('voidvm-t-ui-')
    await expect(badge(p, IDLE)).toHaveAttribute('data-status', 'stopped', { timeout: 15_000 })
    await api.request('vm-control', { vmId: IDLE, action: 'start' })
    await expect(badge(p, IDLE)).toHaveAttribute('data-status', 'running', { timeout: 30_000 })
    await row(p, IDLE)
      .getByRole('button', { name: `Pause ${IDLE}` })
      .click()
    await expect(badge(p, IDLE)).toHaveAttribute('data-status', 'paused', { timeout: 30_000 })
    await api.request('vm-control', { vmId: IDLE, action: 'stop', force: true })
    await expect(badge(p, IDLE)).toHaveAttribute('data-status', 'stopped', { timeout: 30_000 })

    await p.getByRole('button', { name: /^Events/ }).click()
    const item = (event: string) => p.locator(`li[data-event="${event}"]`).filter({ hasText: IDLE }).first()
    await expect(item('vm-started').locator('.event-actor')).toHaveText(`by ${op.username}`)
    await expect(item('vm-paused').locator('.event-actor')).toHaveText(`by ${admin.username} (you)`)
    await expect(item('vm-stopped').locator('.event-actor')).toHaveText(`by ${op.username}`)
    await shot(p, '13b-events-actors')
    await p.getByLabel('Language').selectOption('zh-CN')
    await expect(item('vm-started').locator('.event-actor')).toHaveText(`操作者 ${op.username}`)
    await expect(item('vm-paused').locator('.event-actor')).toHaveText(`操作者 ${admin.username}（你）`)
  } finally {
    await ctx.close()
    await api.request('vm-control', { vmId: IDLE, action: 'stop', force: true }).catch(() => undefined)
    await api.close()
  }
})

// The Electron preload cannot run here (no Electron binary); its API is stood in for by an
// init script that hands over this real server's URL and a real token, as the main process does.
test('desktop mode: the embedded server opens without a login; without one, saved servers are offered', async ({
  browser,
}) => {
  const token = await server.token(admin.username)
  const ctx = await browser.newContext({ viewport: { width: 1440, height: 900 } })
  await ctx.addInitScript(
    ({ url, tok }) => {
      const local = (globalThis as unknown as { location: { hash: string } }).location.hash !== '#no-local'
      ;(globalThis as unknown as { voidvm: unknown }).voidvm = {
        version: 'e2e',
        getLocalServer: async () => (local ? { url, token: tok } : null),
        listProfiles: async () => [{ id: 'p1', name: 'lab-host', url: 'https://lab.example:3000', hasToken: false }],
        saveProfile: async (p: { name: string; url: string }) => ({
          id: 'p2',
          name: p.name,
          url: p.url,
          hasToken: true,
        }),
        removeProfile: async () => undefined,
        getProfileToken: async () => null,
        openExternal: async () => undefined,
      }
    },
    { url: server.url, tok: token },
  )
  const p = await ctx.newPage()
  try {
    await p.goto(server.url)
    await expect(p.getByTestId('connection-state')).toHaveAttribute('data-state', 'open', { timeout: 15_000 })
    await expect(p.getByTestId('role')).toHaveText('Administrator')
    await expect(row(p, GUEST)).toBeVisible({ timeout: 15_000 })
    // The local session has no sign-out: there is nothing to sign out of.
    await expect(p.getByRole('button', { name: 'Sign out' })).toHaveCount(0)
    await shot(p, '15-desktop-local')
    // No embedded server: the saved servers and the "add a server" form; adding one signs in and connects.
    await p.goto(`${server.url}/#no-local`)
    await p.reload()
    await expect(p.getByRole('heading', { name: 'Saved servers' })).toBeVisible()
    await expect(p.getByText('lab-host')).toBeVisible()
    await p.getByLabel('Name', { exact: true }).fill('this host')
    await p.getByLabel('Server address').fill(server.url)
    await p.getByLabel('Username').fill(admin.username)
    await p.getByLabel('Password').fill(admin.password)
    await shot(p, '16-desktop-connections')
    await p.getByRole('button', { name: 'Sign in' }).click()
    await expect(p.getByTestId('connection-state')).toHaveAttribute('data-state', 'open', { timeout: 15_000 })
    await expect(p.getByTestId('connection-state')).toContainText('this host')
  } finally {
    await ctx.close()
  }
})

test('when the server goes away, the app says so, keeps retrying with backoff, and comes back by itself', async () => {
  test.setTimeout(90_000)
  const port = Number(new URL(server.url).port)
  const dataDir = server.dataDir
  await server.stop({ keepDataDir: true })
  const banner = page.getByRole('alert').filter({ hasText: 'The server cannot be reached' })
  await expect(banner).toBeVisible({ timeout: 15_000 })
  await expect(page.getByTestId('connection-state')).toHaveAttribute('data-state', 'reconnecting')
  // Backoff starts short (the first retries come within seconds).
  await expect(banner).toContainText(/Retrying in ([0-9]|1[0-9]) s \(attempt \d+\)/)
  await shot(page, '17-reconnecting')
  // The server returns on the same address with the same data (the session's token stays valid):
  // the app reconnects without a click, subscribes again and shows live state.
  server = await startE2eServer({ libvirtUri: 'qemu:///system', port, dataDir })
  await expect(page.getByTestId('connection-state')).toHaveAttribute('data-state', 'open', { timeout: 45_000 })
  await expect(banner).toBeHidden()
  await page.getByRole('button', { name: 'Virtual machines' }).click()
  await expect(badge(page, GUEST)).toHaveAttribute('data-status', 'running', { timeout: 15_000 })
  await shot(page, '18-reconnected')
})
