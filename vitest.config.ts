import { defineConfig } from 'vitest/config'

// Vitest 5's reporter calls Map.groupBy / Object.groupBy (Node 21+); on Node 20
// it would crash while printing a failure, hiding the failure's details.
type GroupBy = <K, T>(items: Iterable<T>, key: (item: T, index: number) => K) => Map<K, T[]>
const mapCtor = Map as unknown as { groupBy?: GroupBy }
mapCtor.groupBy ??= <K, T>(items: Iterable<T>, key: (item: T, index: number) => K) => {
  const out = new Map<K, T[]>()
  let i = 0
  for (const item of items) {
    const k = key(item, i++)
    const list = out.get(k)
    if (list) list.push(item)
    else out.set(k, [item])
  }
  return out
}
const objectCtor = Object as unknown as {
  groupBy?: <T>(items: Iterable<T>, key: (item: T, index: number) => PropertyKey) => Record<PropertyKey, T[]>
}
objectCtor.groupBy ??= <T>(items: Iterable<T>, key: (item: T, index: number) => PropertyKey) =>
  Object.fromEntries((mapCtor.groupBy as GroupBy)(items, key)) as Record<PropertyKey, T[]>

// Unit tests run in parallel; integration tests share one libvirtd, one test
// guest image and loopback sshd instances, so they run one file at a time.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['src/**/*.test.{ts,tsx}'],
          environment: 'node',
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/**/*.test.ts'],
          environment: 'node',
          fileParallelism: false,
          testTimeout: 60_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
})
