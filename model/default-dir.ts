/**
 * The trained model shipped in the repository, served when MODEL_PATH is unset. In a module of
 * its own so that the configuration can name it without loading the ONNX builder.
 */
export const DEFAULT_MODEL_DIR = new URL('./default', import.meta.url).pathname;
