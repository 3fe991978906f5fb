import type { Etcd3 } from 'etcd3';
import { clearPause, setPause } from '../gate/pause.js';
import type { PauseControl } from './server.js';

export function etcdPauseControl(etcd: Etcd3, cluster: string): PauseControl {
  return {
    pause: (p) => setPause(etcd, cluster, p),
    resume: () => clearPause(etcd, cluster),
  };
}
