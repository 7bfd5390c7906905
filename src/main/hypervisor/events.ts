/**
 * libvirt lifecycle and reboot events → `system-event` payloads, with the
 * message in the server's locale. Event codes never change with the locale.
 */
import type { SystemEventData, SystemEventName, VmAction } from '../../shared/protocol.js'

export type Locale = 'en' | 'zh-CN'

type Level = SystemEventData['level']

const MESSAGES: Record<SystemEventName, Record<Locale, string>> = {
  'vm-created': { en: 'Virtual machine created', 'zh-CN': '虚拟机创建成功' },
  'vm-deleted': { en: 'Virtual machine deleted', 'zh-CN': '虚拟机已删除' },
  'vm-started': { en: 'Virtual machine started', 'zh-CN': '虚拟机已启动' },
  'vm-stopped': { en: 'Virtual machine stopped', 'zh-CN': '虚拟机已停止' },
  'vm-paused': { en: 'Virtual machine paused', 'zh-CN': '虚拟机已暂停' },
  'vm-resumed': { en: 'Virtual machine resumed', 'zh-CN': '虚拟机已恢复' },
  'vm-restarted': { en: 'Virtual machine restarted', 'zh-CN': '虚拟机已重启' },
  'vm-reset': { en: 'Virtual machine reset', 'zh-CN': '虚拟机已重置' },
  'vm-crashed': { en: 'Virtual machine crashed', 'zh-CN': '虚拟机已崩溃' },
  'hypervisor-connected': { en: 'Connected to the hypervisor', 'zh-CN': '已连接到虚拟化管理程序' },
  'hypervisor-disconnected': {
    en: 'Lost the connection to the hypervisor; reconnecting',
    'zh-CN': '与虚拟化管理程序的连接已断开，正在重连',
  },
}

/** Extra words for some event details, appended to the base message. */
const DETAILS = {
  ioError: { en: 'disk I/O error', 'zh-CN': '磁盘 I/O 错误' },
  watchdog: { en: 'watchdog fired', 'zh-CN': '看门狗触发' },
  emulatorFailed: { en: 'the emulator failed', 'zh-CN': '模拟器故障' },
  poweredOff: { en: 'powered off', 'zh-CN': '已强制关机' },
  guestShutdown: { en: 'shut down', 'zh-CN': '已关机' },
} satisfies Record<string, Record<Locale, string>>

export function eventMessage(event: SystemEventName, locale: Locale, detail?: keyof typeof DETAILS): string {
  const base = MESSAGES[event][locale] ?? MESSAGES[event].en
  if (!detail) return base
  const extra = DETAILS[detail][locale] ?? DETAILS[detail].en
  return locale === 'zh-CN' ? `${base}（${extra}）` : `${base} (${extra})`
}

export interface MappedEvent {
  event: SystemEventName
  level: Level
  detail?: keyof typeof DETAILS
}

/**
 * Maps a lifecycle event (virDomainEventType + detail) to a system event, or
 * undefined for events that are not news to users (a definition updated, the
 * SHUTDOWN notice that precedes STOPPED, …).
 */
export function mapLifecycle(event: number, detail: number): MappedEvent | undefined {
  switch (event) {
    case 0: // DEFINED: ADDED 0, UPDATED 1, RENAMED 2, FROM_SNAPSHOT 3
      return detail === 0 || detail === 2 ? { event: 'vm-created', level: 'info' } : undefined
    case 1: // UNDEFINED: REMOVED 0, RENAMED 1
      return { event: 'vm-deleted', level: 'info' }
    case 2: // STARTED
      return { event: 'vm-started', level: 'info' }
    case 3: // SUSPENDED: PAUSED 0, MIGRATED 1, IOERROR 2, WATCHDOG 3, RESTORED 4, FROM_SNAPSHOT 5, API_ERROR 6, POSTCOPY 7, POSTCOPY_FAILED 8
      if (detail === 2) return { event: 'vm-paused', level: 'error', detail: 'ioError' }
      if (detail === 3) return { event: 'vm-paused', level: 'warning', detail: 'watchdog' }
      if (detail === 6 || detail === 8) return { event: 'vm-paused', level: 'error' }
      return { event: 'vm-paused', level: 'info' }
    case 4: // RESUMED
      return { event: 'vm-resumed', level: 'info' }
    case 5: // STOPPED: SHUTDOWN 0, DESTROYED 1, CRASHED 2, MIGRATED 3, SAVED 4, FAILED 5, FROM_SNAPSHOT 6
      if (detail === 2) return { event: 'vm-crashed', level: 'error' }
      if (detail === 5) return { event: 'vm-crashed', level: 'error', detail: 'emulatorFailed' }
      if (detail === 1) return { event: 'vm-stopped', level: 'info', detail: 'poweredOff' }
      if (detail === 0) return { event: 'vm-stopped', level: 'info', detail: 'guestShutdown' }
      return { event: 'vm-stopped', level: 'info' }
    case 6: // SHUTDOWN: the guest is going down; STOPPED follows
      return undefined
    case 7: // PMSUSPENDED: shows as status `suspended`; no event name for it
      return undefined
    case 8: // CRASHED (on_crash=preserve and friends)
      return { event: 'vm-crashed', level: 'error' }
    default:
      return undefined
  }
}

/**
 * libvirt has one reboot event for both a guest reboot and a reset; which
 * one it was is only known when VoidVM asked for it.
 */
export function mapReboot(requested?: { action: VmAction; force?: boolean }): MappedEvent {
  const reset = requested && (requested.action === 'reset' || (requested.action === 'restart' && requested.force))
  return { event: reset ? 'vm-reset' : 'vm-restarted', level: 'info' }
}

/** Which system event a successful vm-control is expected to cause (for attributing it to the user). */
export function expectedEvent(action: VmAction, force?: boolean): SystemEventName {
  switch (action) {
    case 'start':
      return 'vm-started'
    case 'stop':
      return 'vm-stopped'
    case 'pause':
      return 'vm-paused'
    case 'resume':
      return 'vm-resumed'
    case 'reset':
      return 'vm-reset'
    case 'restart':
      return force ? 'vm-reset' : 'vm-restarted'
  }
}

/** The VoidVM user who asked for the action an event answers. */
export interface Actor {
  userId: string
  /** The name at the time of the request: an event names who acted, not who the account is now. */
  username: string
}

export function buildEvent(mapped: MappedEvent, locale: Locale, vmId?: string, actor?: Actor): SystemEventData {
  const out: SystemEventData = {
    event: mapped.event,
    message: eventMessage(mapped.event, locale, mapped.detail),
    level: mapped.level,
  }
  if (vmId !== undefined) out.vmId = vmId
  // Both or neither: clients may rely on username being there whenever userId is.
  if (actor !== undefined) {
    out.userId = actor.userId
    out.username = actor.username
  }
  return out
}
