import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src-main/common/log/createLogger.js';

/** A real logger whose every line is also handed to `append` (the secrecy checks read what was logged). */
export function capturedLogger(name: string, append: (text: string) => void, level = 'debug'): Logger {
  const destination = new Writable({
    write: (chunk: Buffer, _encoding, callback) => {
      append(chunk.toString());
      callback();
    },
  });
  return createLogger(name, { level, destination });
}
