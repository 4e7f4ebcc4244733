import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import { STAGES, type Stage, isStage } from '../stages.ts';
import { callWithDeadline, timeoutOptions } from './api-call.ts';

export interface DeployedTag {
  imageTag: string;
  /** when the promotion that put it there finished, if Kargo says */
  at: string | null;
}

interface StageObject {
  metadata?: { name?: string };
  status?: {
    freightHistory?: { items?: Record<string, { images?: { repoURL?: string; tag?: string }[] }> }[];
    lastPromotion?: { finishedAt?: string };
  };
}

/**
 * The image tag of a Kargo Stage's current freight (status.freightHistory[0]): the tag of the
 * first image whose repository starts with `repoPrefix` (all images of a freight share the SHA).
 */
export function currentTagOf(stage: StageObject, repoPrefix: string): DeployedTag | null {
  const current = stage.status?.freightHistory?.[0];
  for (const ref of Object.values(current?.items ?? {})) {
    for (const image of ref.images ?? []) {
      if (typeof image.tag === 'string' && image.tag !== '' && (image.repoURL ?? '').startsWith(repoPrefix)) {
        return { imageTag: image.tag, at: stage.status?.lastPromotion?.finishedAt ?? null };
      }
    }
  }
  return null;
}

/**
 * Polls the Kargo Stages of the project namespace (at most every 30 s) and keeps the tag
 * deployed in each. A failed poll keeps the last good answer and records the error.
 */
export function createKargoStageReader(opts: { kubeConfig: KubeConfig; namespace: string; pollMs: number; timeoutMs: number; repoPrefix: string; onError?: (err: Error) => void }) {
  const api = opts.kubeConfig.makeApiClient(CustomObjectsApi);
  let tags: Partial<Record<Stage, DeployedTag>> = {};
  let lastError: Error | null = null;
  let lastSuccess: number | null = null;
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<void> | null = null;

  // one list at a time: with a poll interval shorter than the API deadline (1 s and 2000 ms), an
  // interval would otherwise start a second list while the first is on its way, and a slow, older
  // answer landing after a newer one would put the stale tags back. A poll asked for while one
  // is in flight gets that one.
  const poll = (): Promise<void> => {
    inFlight ??= pollOnce().finally(() => {
      inFlight = null;
    });
    return inFlight;
  };

  const pollOnce = async (): Promise<void> => {
    try {
      const list = (await callWithDeadline('list Kargo Stages', opts.timeoutMs, () =>
        api.listNamespacedCustomObject({ group: 'kargo.akuity.io', version: 'v1alpha1', namespace: opts.namespace, plural: 'stages' }, timeoutOptions(opts.timeoutMs)),
      )) as { items?: StageObject[] };
      if (!list || !Array.isArray(list.items)) throw new Error('list Kargo Stages: the answer has no items');
      const next: Partial<Record<Stage, DeployedTag>> = {};
      for (const item of list.items) {
        const name = item?.metadata?.name;
        if (typeof name !== 'string' || !isStage(name)) continue;
        const tag = currentTagOf(item, opts.repoPrefix);
        if (tag) next[name] = tag;
      }
      tags = next;
      lastError = null;
      lastSuccess = Date.now();
    } catch (err) {
      lastError = err as Error;
      opts.onError?.(lastError);
    }
  };

  return {
    /** Polls now and then every pollMs; resolves after the first poll. */
    async start(): Promise<void> {
      await poll();
      timer = setInterval(() => void poll(), opts.pollMs);
      timer.unref();
    },
    stop(): void {
      if (timer) clearInterval(timer);
      timer = null;
    },
    poll,
    tags: (): Partial<Record<Stage, DeployedTag>> => tags,
    health: () => ({ lastError: lastError?.message ?? null, lastSuccess: lastSuccess === null ? null : new Date(lastSuccess).toISOString() }),
    stages: STAGES,
  };
}
