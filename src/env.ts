import { hostname } from 'node:os';
import { z } from 'zod';

const port = z
  .string()
  .trim()
  .regex(/^\d+$/, 'must be a port number from 0 to 65535')
  .transform(Number)
  .pipe(z.number().max(65535, 'must be a port number from 0 to 65535'));

const seconds = z
  .string()
  .trim()
  .regex(/^\d+(\.\d+)?$/, 'must be a number of seconds')
  .transform(Number)
  .pipe(z.number().max(120, 'must be at most 120 seconds'));

export const envSchema = z.object({
  ROLE: z.enum(['user', 'admin'], { error: 'must be "user" or "admin"' }).default('user'),
  PORT: port.default(8080),
  HOST: z.string().trim().min(1, 'must not be empty').default('0.0.0.0'),
  CONFIG_DIR: z.string().trim().min(1, 'must not be empty').default('/etc/app-config'),
  POD_NAME: z.string().trim().min(1, 'must not be empty').default(hostname()),
  SHUTDOWN_DELAY_SECONDS: seconds.default(5),
  LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
      error: 'must be one of fatal, error, warn, info, debug, trace, silent',
    })
    .default('info'),
});

export type Env = z.infer<typeof envSchema>;
export type Role = Env['ROLE'];

export class EnvError extends Error {}

/** Validates the environment once. Empty variables count as unset, as they do in most shells' configs. */
export function loadEnv(source: NodeJS.ProcessEnv = process.env): Env {
  const input = Object.fromEntries(
    Object.keys(envSchema.shape)
      .map((key) => [key, source[key]] as const)
      .filter(([, value]) => value !== undefined && value !== ''),
  );
  const result = envSchema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = String(issue.path[0]);
    return `${name}=${JSON.stringify(source[name] ?? '')} ${issue.message}`;
  });
  throw new EnvError(`invalid environment: ${problems.join('; ')}`);
}
