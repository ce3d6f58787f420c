import { getOperationAST } from 'graphql';
import type { Plugin } from 'graphql-yoga';
import type { Metrics } from '../observability/metrics.ts';

/** Times each executed operation (queries, mutations, and subscriptions until they end). */
export function metricsPlugin(metrics: Metrics): Plugin {
  const track = (args: { document: Parameters<typeof getOperationAST>[0]; operationName?: string | null }) => {
    const operation = getOperationAST(args.document, args.operationName);
    return metrics.startOperation(operation?.name?.value ?? args.operationName, operation?.operation ?? 'unknown');
  };
  return {
    onExecute({ args }) {
      const done = track(args);
      return { onExecuteDone: () => done() };
    },
    onSubscribe({ args }) {
      const done = track(args);
      return { onSubscribeResult: () => ({ onEnd: () => done() }) };
    },
  };
}
