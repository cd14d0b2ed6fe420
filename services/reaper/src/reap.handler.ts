import type { ReapJobData, ReapJobResult } from '@imagehost/jobs';
import type { ObjectStore } from '@imagehost/storage';

export interface ReapDeps {
  readonly objects: ObjectStore;
}

/** Removes what a reap job names. Idempotent: removing an object that is gone succeeds. */
export async function reap(data: ReapJobData, deps: ReapDeps): Promise<ReapJobResult> {
  switch (data.target) {
    case 'object': {
      await deps.objects.removeObject(data.objectKey);
      return { removedObjects: 1 };
    }
  }
}
