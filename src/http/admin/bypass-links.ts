const BYPASS_KEY_COMMAND = 'kubectl create secret generic maintenance-bypass-key --from-literal=key="$(openssl rand -base64 32)"';

export interface BypassLinkSettings {
  /** The key (null while there is none) and why there is none. */
  key: () => Buffer | null;
  problem: () => string | null;
  /** One line: how to give this admin a key, where it runs (a kubectl command, or a file to write). */
  enable: string;
  publicUrl?: URL;
}

/** Whether links can be made now, for the panel: it offers the form only then, and otherwise says how to enable them. */
export function bypassLinksView(settings: BypassLinkSettings | undefined) {
  const available = settings?.key() != null;
  return {
    available,
    problem: available ? null : (settings?.problem() ?? 'no bypass key is configured'),
    enable: available ? null : (settings?.enable ?? BYPASS_KEY_COMMAND),
  };
}
