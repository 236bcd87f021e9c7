/** One Server-Sent Events message: `event:` name (default `message`), joined `data:` lines, `id:`. */
export interface SseMessage {
  event: string;
  data: string;
  id: string | null;
}

const LINE_END = /\r\n|\r|\n/g;

/**
 * The one incremental SSE parser of every tier: the queen reading workers and hives, the renderer
 * and CLI reading the queen. WHATWG framing (LF, CRLF or CR line ends; a blank line dispatches;
 * `:` lines are comments, reported to `onComment` — hives send `: ping` heartbeats). Feed it decoded
 * text in any split. It walks the buffer with a cursor and cuts it once per chunk, because it sits on
 * the token stream.
 */
export class SseParser {
  private buffer = '';
  private event = '';
  private data: string[] = [];
  private id: string | null = null;
  private sawField = false;

  constructor(private readonly onComment?: (text: string) => void) {}

  push(chunk: string): SseMessage[] {
    const buffer = this.buffer + chunk;
    const messages: SseMessage[] = [];
    let pos = 0;
    for (;;) {
      LINE_END.lastIndex = pos;
      const match = LINE_END.exec(buffer);
      if (!match) break;
      // A lone CR at the end may be the first half of CRLF: wait for more input.
      if (match[0] === '\r' && match.index === buffer.length - 1) break;
      const message = this.line(buffer.slice(pos, match.index));
      if (message) messages.push(message);
      pos = match.index + match[0].length;
    }
    this.buffer = buffer.slice(pos);
    return messages;
  }

  private line(line: string): SseMessage | null {
    if (line === '') {
      if (!this.sawField) return null;
      const message: SseMessage = { event: this.event || 'message', data: this.data.join('\n'), id: this.id };
      this.event = '';
      this.data = [];
      this.sawField = false;
      return message;
    }
    if (line.startsWith(':')) {
      this.onComment?.(line.slice(1).trimStart());
      return null;
    }
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'event') this.event = value;
    else if (field === 'data') this.data.push(value);
    else if (field === 'id') this.id = value;
    else return null;
    this.sawField = true;
    return null;
  }
}
