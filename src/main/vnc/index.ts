/** The VNC console bridge: an RFB proxy with input injection and a binary fast path. */
export { createVncBridge, VNC_CLOSE_REASONS, type VncBridgeOptions } from './bridge.js'
export { keyToKeysym, textToKeyPresses } from './keysym.js'
