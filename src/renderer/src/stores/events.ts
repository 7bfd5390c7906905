/** The events feed (system-event pushes) and the toasts (errors, results). */
import { create } from 'zustand'
import type { SystemEventData } from '../../../shared/protocol'

export interface FeedEvent extends SystemEventData {
  key: number
  timestamp: string
}

export interface Toast {
  key: number
  level: 'info' | 'success' | 'warning' | 'error'
  title: string
  body?: string
  /** Error code or event name, for tests and styling. */
  code?: string
}

export interface EventsState {
  events: FeedEvent[]
  toasts: Toast[]
  unread: number
}

export const MAX_EVENTS = 500
const TOAST_MS = 6000
let seq = 1

export const useEventStore = create<EventsState>(() => ({ events: [], toasts: [], unread: 0 }))

export function addEvent(e: SystemEventData, timestamp?: string): FeedEvent {
  const fe: FeedEvent = { ...e, key: seq++, timestamp: timestamp ?? new Date().toISOString() }
  useEventStore.setState(s => ({ events: [fe, ...s.events].slice(0, MAX_EVENTS), unread: s.unread + 1 }))
  return fe
}

export function markRead(): void {
  useEventStore.setState({ unread: 0 })
}

export function pushToast(t: Omit<Toast, 'key'>, ms = t.level === 'error' ? TOAST_MS * 2 : TOAST_MS): number {
  const key = seq++
  useEventStore.setState(s => ({ toasts: [...s.toasts.slice(-4), { ...t, key }] }))
  if (ms > 0) setTimeout(() => dismissToast(key), ms)
  return key
}

export function dismissToast(key: number): void {
  useEventStore.setState(s => ({ toasts: s.toasts.filter(t => t.key !== key) }))
}

export function clearEvents(): void {
  useEventStore.setState({ events: [], unread: 0 })
}
