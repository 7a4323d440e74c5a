import { runPlugin } from './control-plane.ts';

/** The three ways people toggle an install, as the tests and benchmarks drive them. */
export type SwitchMethod = 'admin API' | 'plugin' | 'kubectl edit';
export const SWITCH_METHODS: readonly SwitchMethod[] = ['admin API', 'plugin', 'kubectl edit'];

type Kubectl = (args: string[], options?: { env?: NodeJS.ProcessEnv }) => Promise<string>;

/** An install of the recipe, and how to reach it. */
export interface SwitchTarget {
  kubectl: Kubectl;
  kubectlBinary: string;
  kubeconfig: string;
  namespace: string;
  app: string;
  /** The admin Service's URL, and an operator's token for its API. */
  adminUrl: string;
  token: string;
}

/** A ServiceAccount `operator` that RBAC lets get and patch the app's switch, and a token of it. */
export async function operatorToken(kubectl: Kubectl, namespace: string, app: string): Promise<string> {
  await kubectl(['create', 'serviceaccount', 'operator', '-n', namespace]);
  await kubectl([
    'create',
    'role',
    'operator',
    '-n',
    namespace,
    '--verb=get,patch',
    '--resource=configmaps',
    `--resource-name=${app}-maintenance`,
  ]);
  await kubectl(['create', 'rolebinding', 'operator', '-n', namespace, '--role=operator', `--serviceaccount=${namespace}:operator`]);
  return (await kubectl(['create', 'token', 'operator', '-n', namespace])).trim();
}

/** Turns maintenance on or off one way; resolves once the write was acknowledged, throws with the tool's words otherwise. */
export async function writeSwitch(on: boolean, method: SwitchMethod, target: SwitchTarget, reason = 'a test of the switch'): Promise<void> {
  if (method === 'admin API') {
    const response = await fetch(`${target.adminUrl}/admin/api/maintenance`, {
      method: 'PUT',
      headers: { Authorization: `Bearer ${target.token}`, 'Content-Type': 'application/json' },
      body: JSON.stringify({ mode: on ? 'on' : 'off', reason }),
    });
    if (response.status !== 200) throw new Error(`PUT /admin/api/maintenance: ${response.status} ${await response.text()}`);
  } else if (method === 'plugin') {
    const args = [on ? 'on' : 'off', '--reason', reason, '-n', target.namespace, '--app', target.app];
    const result = await runPlugin(target.kubectlBinary, target.kubeconfig, args);
    if (result.code !== 0) throw new Error(`kubectl maintenance ${on ? 'on' : 'off'}: exit ${result.code}: ${result.stderr}`);
  } else {
    await target.kubectl(['edit', 'configmap', `${target.app}-maintenance`, '-n', target.namespace], {
      env: { KUBE_EDITOR: `sed -i -e 's/MAINTENANCE_MODE: "${!on}"/MAINTENANCE_MODE: "${on}"/'` },
    });
  }
}
