/** The Electron binary's path, or null where it is not installed. */
export function electronBinary(): string | null
/** The plain "Electron binary is missing" message, with the headless alternative. */
export const MISSING_ELECTRON: string
