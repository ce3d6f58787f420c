/**
 * The DynamoDB connection: AWS, any compatible endpoint, or dynalite embedded in this process
 * (persisted under DATA_DIR/dynamodb) when nothing is configured.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  ResourceInUseException,
  waitUntilTableExists,
} from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb';
import dynalite from 'dynalite';
import type { Config } from '../config.ts';
import { closeDynaliteIterators } from './dynalite-iterators.ts';
import { tableDefinitions, type TableNames } from './tables.ts';
import { traceAwsClient } from '../observability/aws-tracing.ts';
import { awsClientLimits, countAwsErrors } from '../observability/aws-errors.ts';
import type { DependencyErrorKind } from '../dependency-errors.ts';

export interface Dynamo {
  doc: DynamoDBDocumentClient;
  tables: TableNames;
  /** Answers when the database does (for /ready). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

async function startEmbedded(dataDir: string): Promise<{ endpoint: string; server: Server }> {
  const dir = path.join(dataDir, 'dynamodb');
  await fs.mkdir(dir, { recursive: true });
  closeDynaliteIterators();
  const server: Server = dynalite({ path: dir, createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return { endpoint: `http://127.0.0.1:${port}`, server };
}

/** `onUnavailable`: each command that failed for want of DynamoDB (for the dependency metrics). */
export async function connectDynamo(
  config: Pick<Config, 'dynamo' | 'region' | 'dataDir' | 'dependencyTimeoutMs'>,
  onUnavailable: (kind: DependencyErrorKind) => void = () => {},
): Promise<Dynamo> {
  const embedded = config.dynamo.mode === 'embedded' ? await startEmbedded(config.dataDir) : undefined;
  const endpoint = embedded?.endpoint ?? config.dynamo.endpoint;
  const client = countAwsErrors(
    traceAwsClient(
      new DynamoDBClient({
        region: config.region,
        ...awsClientLimits(config.dependencyTimeoutMs),
        ...(endpoint ? { endpoint, credentials: { accessKeyId: 'local', secretAccessKey: 'local' } } : {}),
      }),
      'DynamoDB',
    ),
    onUnavailable,
  );
  const doc = DynamoDBDocumentClient.from(client, {
    marshallOptions: { removeUndefinedValues: true },
  });
  const tables = config.dynamo.tables;
  if (config.dynamo.createTables) await createMissingTables(client, tables);

  return {
    doc,
    tables,
    async ping() {
      await client.send(new DescribeTableCommand({ TableName: tables.conversations }));
    },
    async close() {
      doc.destroy();
      client.destroy();
      if (embedded) await new Promise<void>((resolve) => embedded.server.close(() => resolve()));
    },
  };
}

async function createMissingTables(client: DynamoDBClient, names: TableNames): Promise<void> {
  for (const definition of Object.values(tableDefinitions(names))) {
    try {
      await client.send(new CreateTableCommand(definition));
    } catch (error) {
      if (!(error instanceof ResourceInUseException)) throw error;
    }
    await waitUntilTableExists({ client, maxWaitTime: 60, minDelay: 1 }, { TableName: definition.TableName });
  }
}
