// Refuses, in one line, to go on with a Node.js other than 24. Plain JavaScript, so that an
// older Node can run it and say so, instead of failing later on syntax or a missing API.
import { pathToFileURL } from 'node:url';

export const REQUIRED_MAJOR = 24;

/** The complaint for this Node version, or null when it is the one we need. */
export function nodeVersionProblem(version) {
  const major = Number(version.replace(/^v/, '').split('.')[0]);
  if (major === REQUIRED_MAJOR) return null;
  return `maintenance-switch needs Node.js ${REQUIRED_MAJOR}, not ${version}: run  export PATH="$(bash scripts/node24.sh):$PATH"  and try again`;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const problem = nodeVersionProblem(process.version);
  if (problem) {
    console.error(problem);
    process.exit(1);
  }
}
