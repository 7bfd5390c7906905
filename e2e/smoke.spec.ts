import { test, expect } from '@playwright/test'
import { startE2eServer, type E2eServer } from './server.js'

let server: E2eServer

test.beforeAll(async () => {
  server = await startE2eServer()
})
test.afterAll(async () => {
  await server?.stop()
})

test('the headless server serves the built renderer and the app shell shows', async ({ page }) => {
  const errors: string[] = []
  page.on('pageerror', e => errors.push(e.message))
  const res = await page.goto(server.url)
  expect(res?.status()).toBe(200)
  expect(res?.headers()['content-security-policy']).toContain("default-src 'self'")
  await expect(page).toHaveTitle('VoidVM')
  await expect(page.getByRole('heading', { name: 'VoidVM' })).toBeVisible()
  expect(errors).toEqual([])
})
