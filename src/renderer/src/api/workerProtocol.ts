/** Messages between the page and the socket worker. */
export type WorkerIn =
  { op: 'open'; url: string } | { op: 'send'; data: string } | { op: 'close'; code?: number; reason?: string }

export type WorkerOut =
  | { kind: 'open' }
  | { kind: 'error' }
  | { kind: 'close'; code: number; reason: string }
  /** Server messages in arrival order, as the text of one JSON array of the frames. */
  | { kind: 'batch'; text: string }
