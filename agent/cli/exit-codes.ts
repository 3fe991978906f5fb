import type { OverallStatus } from '../report/model.js';

/** argocd's convention for `drift`: 0 in sync, 2 drifted/acting/blocked, 1 failed/rejected. */
export function driftExitCode(status: OverallStatus | undefined): 0 | 1 | 2 {
  if (status === undefined || status === 'in-sync') return 0;
  return status === 'failed' || status === 'rejected' ? 1 : 2;
}
