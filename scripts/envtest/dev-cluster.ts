// npm run dev:cluster: a real kube-apiserver and etcd for local development.
// Prints the KUBECONFIG path and keeps running until Ctrl-C.
import { findBinaries, startControlPlane } from '../lib/control-plane.ts';

const binaries = findBinaries();
if (typeof binaries === 'string') {
  console.error(binaries);
  process.exit(1);
}
const plane = await startControlPlane(binaries, (line) => console.error(line));
console.log(`
  A control plane is running (no controllers, no nodes: nothing gets scheduled).

  export KUBECONFIG=${plane.kubeconfig}
  kubectl apply -k k8s/
  kubectl -n sample-app get configmap app-config -o yaml

  Ctrl-C stops it and removes ${plane.dir}.
`);
const shutdown = () => {
  void plane.stop().then(() => process.exit(0));
};
process.once('SIGINT', shutdown);
process.once('SIGTERM', shutdown);
