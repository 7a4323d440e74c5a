/** A response head written straight to a socket, as an upgraded or refused connection needs. */
export function statusBlock(status: number, message: string | undefined, rawHeaders: readonly string[]): string {
  const lines = [`HTTP/1.1 ${status} ${message ?? ''}`];
  for (let index = 0; index < rawHeaders.length; index += 2) lines.push(`${rawHeaders[index]}: ${rawHeaders[index + 1]}`);
  return `${lines.join('\r\n')}\r\n\r\n`;
}
