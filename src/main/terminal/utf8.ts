/**
 * Streaming UTF-8 decoding: a multi-byte character split across two chunks is
 * held back until its last byte arrives, so every `terminal-output` carries
 * whole characters. Invalid bytes become U+FFFD instead of failing the session.
 */
export class Utf8Stream {
  private readonly decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true })

  /** Decodes a chunk; a trailing incomplete sequence stays buffered. */
  write(chunk: Uint8Array): string {
    return this.decoder.decode(chunk, { stream: true })
  }

  /** Flushes what is left (an incomplete tail becomes U+FFFD). */
  end(): string {
    return this.decoder.decode()
  }
}
