/** Inline SVG icons (stroke icons, 16 px), so there is no icon font or remote asset. */
import type { JSX } from 'react'

const PATHS: Record<string, JSX.Element> = {
  start: <path d="M5 3.5v9l7.5-4.5z" fill="currentColor" stroke="none" />,
  shutdown: (
    <>
      <path d="M8 2v6" />
      <path d="M4.3 4.6a5 5 0 1 0 7.4 0" />
    </>
  ),
  forceoff: (
    <>
      <rect x="3.5" y="3.5" width="9" height="9" rx="1.5" fill="currentColor" stroke="none" />
    </>
  ),
  reboot: (
    <>
      <path d="M13 8a5 5 0 1 1-1.5-3.6" />
      <path d="M12 2v3h-3" />
    </>
  ),
  reset: (
    <>
      <path d="M3 8a5 5 0 1 0 1.5-3.6" />
      <path d="M4 2v3h3" />
      <circle cx="8" cy="8" r="1.3" fill="currentColor" stroke="none" />
    </>
  ),
  pause: (
    <>
      <rect x="4" y="3.5" width="2.6" height="9" rx="0.8" fill="currentColor" stroke="none" />
      <rect x="9.4" y="3.5" width="2.6" height="9" rx="0.8" fill="currentColor" stroke="none" />
    </>
  ),
  resume: <path d="M5 3.5v9l7.5-4.5z" fill="currentColor" stroke="none" />,
  vms: (
    <>
      <rect x="2" y="2.5" width="12" height="8" rx="1.5" />
      <path d="M5.5 13.5h5M8 10.5v3" />
    </>
  ),
  host: (
    <>
      <rect x="2.5" y="2" width="11" height="5" rx="1.2" />
      <rect x="2.5" y="9" width="11" height="5" rx="1.2" />
      <path d="M5 4.5h.01M5 11.5h.01" strokeWidth="2" />
    </>
  ),
  events: <path d="M8 2a4 4 0 0 0-4 4v3l-1.5 2.5h11L12 9V6a4 4 0 0 0-4-4zM6.5 13.5a1.5 1.5 0 0 0 3 0" />,
  terminal: (
    <>
      <rect x="1.5" y="2.5" width="13" height="11" rx="1.5" />
      <path d="M4.5 6l2 2-2 2M8 10.5h3.5" />
    </>
  ),
  console: (
    <>
      <rect x="1.5" y="2.5" width="13" height="9" rx="1.5" />
      <path d="M5 14h6" />
    </>
  ),
  close: <path d="M4 4l8 8M12 4l-8 8" />,
  back: <path d="M10 3L5 8l5 5" />,
  fullscreen: <path d="M2.5 6V2.5H6M10 2.5h3.5V6M13.5 10v3.5H10M6 13.5H2.5V10" />,
  keyboard: (
    <>
      <rect x="1.5" y="4" width="13" height="8" rx="1.5" />
      <path d="M4 7h.01M6.5 7h.01M9 7h.01M11.5 7h.01M5 9.5h6" strokeWidth="1.6" />
    </>
  ),
  paste: (
    <>
      <rect x="3.5" y="3" width="9" height="11" rx="1.3" />
      <path d="M6 2h4v2H6zM6 7.5h4M6 10h3" />
    </>
  ),
  copy: (
    <>
      <rect x="5" y="5" width="8.5" height="8.5" rx="1.3" />
      <path d="M11 3H3.8A1.3 1.3 0 0 0 2.5 4.3V11" />
    </>
  ),
  camera: (
    <>
      <path d="M2 5.5A1.5 1.5 0 0 1 3.5 4h1.8l1.2-1.5h3l1.2 1.5h1.8A1.5 1.5 0 0 1 14 5.5v6a1.5 1.5 0 0 1-1.5 1.5h-9A1.5 1.5 0 0 1 2 11.5z" />
      <circle cx="8" cy="8.3" r="2.4" />
    </>
  ),
  plus: <path d="M8 3v10M3 8h10" />,
  more: (
    <>
      <circle cx="3.5" cy="8" r="1.2" fill="currentColor" stroke="none" />
      <circle cx="8" cy="8" r="1.2" fill="currentColor" stroke="none" />
      <circle cx="12.5" cy="8" r="1.2" fill="currentColor" stroke="none" />
    </>
  ),
  search: (
    <>
      <circle cx="7" cy="7" r="4.5" />
      <path d="M10.5 10.5L14 14" />
    </>
  ),
  warning: (
    <>
      <path d="M8 2L1.5 13.5h13z" />
      <path d="M8 6.5v3.5M8 12h.01" strokeWidth="1.8" />
    </>
  ),
  key: (
    <>
      <circle cx="5" cy="10" r="3" />
      <path d="M7.2 7.8L13 2M11 4l2 2" />
    </>
  ),
  logout: <path d="M6 2.5H3.5a1 1 0 0 0-1 1v9a1 1 0 0 0 1 1H6M10.5 11l3-3-3-3M13.5 8H6" />,
  server: (
    <>
      <rect x="2.5" y="2.5" width="11" height="11" rx="2" />
      <path d="M5.5 6h5M5.5 10h5" />
    </>
  ),
}

export type IconName = keyof typeof PATHS

export function Icon({ name, size = 16 }: { name: IconName | string; size?: number }) {
  return (
    <svg
      className="icon"
      width={size}
      height={size}
      viewBox="0 0 16 16"
      fill="none"
      stroke="currentColor"
      strokeWidth="1.5"
      strokeLinecap="round"
      strokeLinejoin="round"
      aria-hidden="true"
      focusable="false"
    >
      {PATHS[name]}
    </svg>
  )
}
