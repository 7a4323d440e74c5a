// npm run cluster: a real single-node Kubernetes on this machine (root, no Docker), with the
// project's image imported. Prints a KUBECONFIG and runs until Ctrl-C, then removes everything.
import { startNodeClusterFromEnvironment } from '../lib/node-cluster.ts';

const { cluster } = await startNodeClusterFromEnvironment();
const { settings } = cluster;
console.log(`
  A single-node cluster is running: kubelet ${settings.nodeName}, containerd, kube-proxy, pods in ${settings.podCidr},
  Services in ${settings.serviceCidr}, the image maintenance-switch:dev imported.

  export KUBECONFIG=${cluster.kubeconfig}
  kubectl apply -k demo/local
  kubectl -n sample-app get pods -w

  Logs: ${settings.dir}/logs. Ctrl-C stops it and removes everything it made.
`);
let stopping = false;
const shutdown = () => {
  if (stopping) return;
  stopping = true;
  console.error('[cluster] stopping ...');
  void cluster.stop().then(
    () => process.exit(0),
    (error: unknown) => {
      console.error(error);
      process.exit(1);
    },
  );
};
process.on('SIGINT', shutdown);
process.on('SIGTERM', shutdown);
