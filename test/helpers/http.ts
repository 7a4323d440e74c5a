import { request } from 'node:http';
import { readFileSync } from 'node:fs';

/**
 * Sends a large body in 64 KiB chunks, stopping as soon as the server answers, and resolves
 * with the status and body of that answer. With `chunked`, no Content-Length is sent, so the
 * server can only enforce a limit while the body streams in.
 */
export function sendLargeBody(
  url: string,
  method: string,
  totalBytes: number,
  options: { chunked?: boolean; headers?: Record<string, string> } = {},
): Promise<{ status: number; body: string; sentBytes: number }> {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const req = request(url, {
      method,
      headers: {
        'Content-Type': 'application/json',
        // Spelled out: Node's client frames a DELETE or GET body as chunked only when told to.
        ...(options.chunked ? { 'Transfer-Encoding': 'chunked' } : { 'Content-Length': String(totalBytes) }),
        ...options.headers,
      },
    });
    req.on('response', (response) => {
      answered = true;
      let body = '';
      response.setEncoding('utf8').on('data', (data: string) => (body += data));
      response.on('end', () => {
        resolve({ status: response.statusCode ?? 0, body, sentBytes: sent });
        req.destroy();
      });
    });
    // Once the server has answered, it may close the connection under the rest of the upload.
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    const pump = () => {
      while (!answered && sent < totalBytes) {
        const size = Math.min(chunk.length, totalBytes - sent);
        sent += size;
        if (!req.write(size === chunk.length ? chunk : chunk.subarray(0, size))) {
          req.once('drain', pump);
          return;
        }
      }
      if (!answered && sent >= totalBytes) req.end();
    };
    pump();
  });
}

/** Resident memory of a process, from /proc, in bytes. */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+) kB$/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}
