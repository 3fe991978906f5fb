/**
 * COPY ... FROM STDIN for node-postgres without another package: a "submittable" that the
 * pg client drives (it calls submit, then handleCopyInResponse when the server is ready
 * for data, handleError / handleCommandComplete / handleReadyForQuery at the end). No
 * pg-copy-streams here (npm cannot be reached), and this is all of it that the load needs.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';

/** The part of pg's (untyped) Connection a COPY uses. */
interface CopyConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Buffer): void;
  endCopyFrom(): void;
  sendCopyFail(message: string): void;
  stream: Writable;
}

export class CopyFromQuery {
  /** Rows the server reports (COPY n). */
  rowCount = 0;
  readonly done: Promise<number>;
  private error: Error | undefined;
  private settle!: { resolve: (n: number) => void; reject: (e: Error) => void };

  /**
   * @param text the COPY statement (`COPY t (a, b) FROM STDIN`)
   * @param chunks data in COPY's format, sent in order with backpressure
   * @param onChunk called after each chunk is handed to the socket
   */
  constructor(
    readonly text: string,
    private readonly chunks: Iterable<Buffer> | AsyncIterable<Buffer>,
    private readonly onChunk?: (chunk: Buffer, index: number) => void,
  ) {
    this.done = new Promise<number>((resolve, reject) => (this.settle = { resolve, reject }));
    // A caller that only awaits `done` later must not see an unhandled rejection first.
    this.done.catch(() => undefined);
  }

  submit(connection: CopyConnection): void {
    connection.query(this.text);
  }

  handleCopyInResponse(connection: CopyConnection): void {
    void this.pump(connection);
  }

  private async pump(c: CopyConnection): Promise<void> {
    let i = 0;
    try {
      for await (const chunk of this.chunks) {
        // After a server error the server ignores further data; stop sending it.
        if (this.error) return;
        c.sendCopyFromChunk(chunk);
        this.onChunk?.(chunk, i++);
        if (c.stream.writableNeedDrain) await once(c.stream, 'drain');
      }
      if (!this.error) c.endCopyFrom();
    } catch (err) {
      this.error ??= err instanceof Error ? err : new Error(String(err));
      c.sendCopyFail(this.error.message);
    }
  }

  handleCommandComplete(msg: { text?: string }): void {
    const m = /^COPY (\d+)/.exec(msg.text ?? '');
    if (m) this.rowCount = Number(m[1]);
  }

  handleError(err: Error): void {
    // pg clears the active query on an ErrorResponse, so no handleReadyForQuery follows:
    // settle here. The pump stops at its next chunk; the server ignores copy data after
    // an error, so nothing more is needed to end the COPY.
    this.error ??= err;
    this.settle.reject(this.error);
  }

  handleReadyForQuery(): void {
    if (this.error) this.settle.reject(this.error);
    else this.settle.resolve(this.rowCount);
  }

  // Messages a COPY FROM does not get; pg may still call these on an odd server.
  handleRowDescription(): void {}
  handleDataRow(): void {}
  handleEmptyQuery(): void {}
  handleCopyData(): void {}
  handlePortalSuspended(): void {}
}
