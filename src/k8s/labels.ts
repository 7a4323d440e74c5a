/**
 * The labels an install puts on its objects and on the app's pods, as the manifests in
 * kustomize/ write them: `app` with the app's name on every pod of the install, `tier` on its
 * own objects (`switch`, `admin`, `page`), and `gate: "true"` on the Deployments that go into
 * maintenance with the switch.
 */
export const LABELS = {
  app: 'maintenance-switch.dev/app',
  tier: 'maintenance-switch.dev/tier',
  gate: 'maintenance-switch.dev/gate',
} as const;
