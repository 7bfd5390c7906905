/** The app's version, injected at build time from package.json. */
declare const __VOIDVM_VERSION__: string | undefined
export const VERSION: string = typeof __VOIDVM_VERSION__ === 'string' ? __VOIDVM_VERSION__ : '0.0.0-dev'
