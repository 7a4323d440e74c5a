/** A failure the command reports in its own words, with the exit code that says what kind. */
export class CliError extends Error {
  override readonly name = 'CliError';
  readonly exitCode: number;
  /** Lines after the first, such as how to fix it. */
  readonly more: readonly string[];
  constructor(message: string, exitCode = 1, more: readonly string[] = []) {
    super(message);
    this.exitCode = exitCode;
    this.more = more;
  }
}

/**
 * `text` with every control character (C0, DEL and C1) shown as \xHH, so nothing read from the
 * cluster can move the cursor, recolour or rewrite what the terminal shows.
 */
export function safe(text: string): string {
  // biome-ignore lint/suspicious/noControlCharactersInRegex: these are exactly the characters to show
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Where a command writes: results to stdout, problems to stderr. */
export interface Output {
  line(text: string): void;
  problem(text: string): void;
}

export const processOutput: Output = {
  line: (text) => void process.stdout.write(`${text}\n`),
  problem: (text) => void process.stderr.write(`${text}\n`),
};
