import cliProgress from 'cli-progress';

/** A progress bar over a model's tensors, for the long model commands (build, quantize, convert). */
export function weightProgress(label: string): { onWeight: (tensor: string, done: number, total: number) => void; stop: () => void } {
  const bar = new cliProgress.SingleBar({ format: `${label} [{bar}] {value}/{total} {tensor}` }, cliProgress.Presets.shades_classic);
  bar.start(1, 0, { tensor: '' });
  return {
    onWeight: (tensor, done, total) => {
      bar.setTotal(total);
      bar.update(done, { tensor });
    },
    stop: () => bar.stop(),
  };
}
