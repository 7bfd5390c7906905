/**
 * Reading libvirt's XML documents with fast-xml-parser: attributes under
 * "@_", text under "#text", values kept as strings, and the elements that
 * may repeat always as arrays. Small accessors that never throw on a shape
 * they did not expect.
 */
import { XMLParser } from 'fast-xml-parser'

/** An element as fast-xml-parser gives it. */
export type XmlNode = { [key: string]: unknown }

/** A parser for documents whose elements at `lists` (dotted paths, e.g. "domain.devices.disk") may repeat. */
export function xmlParser(lists: readonly string[]): XMLParser {
  const repeated = new Set(lists)
  return new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '@_',
    textNodeName: '#text',
    // Values stay strings: a MAC or a disk name must never turn into a number.
    parseTagValue: false,
    parseAttributeValue: false,
    isArray: (_name, jpath) => repeated.has(String(jpath)),
  })
}

export function node(v: unknown): XmlNode | undefined {
  return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as XmlNode) : undefined
}

/** Text of an element, whether it has attributes or not. */
export function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v.trim() || undefined
  const t = node(v)?.['#text']
  return typeof t === 'string' ? t.trim() || undefined : undefined
}

export function attr(v: unknown, name: string): string | undefined {
  const a = node(v)?.[`@_${name}`]
  return typeof a === 'string' && a !== '' ? a : undefined
}

export function list(v: unknown): XmlNode[] {
  return Array.isArray(v) ? v.map(node).filter((n): n is XmlNode => n !== undefined) : []
}
