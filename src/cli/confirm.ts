import { createInterface } from 'node:readline';

/** buildx's prune warnings, word for word. */
export const PRUNE_WARNING = 'WARNING! This will remove all dangling build cache. Are you sure you want to continue?';
export const PRUNE_ALL_WARNING = 'WARNING! This will remove all build cache. Are you sure you want to continue?';

/** The streams a confirmation talks through; `isTTY` tells whether anyone can answer. */
export interface PromptStreams {
  input: NodeJS.ReadableStream & { isTTY?: boolean };
  output: NodeJS.WritableStream;
}

/** Thrown when a confirmation is needed but stdin is not a terminal: nobody can answer, so nothing is done. */
export class ConfirmationRequiredError extends Error {
  override readonly name = 'ConfirmationRequiredError';
}

/**
 * Asks `message [y/N] ` and reads one line: `y` or `Y` is yes, anything else or the end
 * of input is no, as buildx's promptForConfirmation reads it. When the input is not a terminal this refuses instead
 * of reading (buildx would read a piped answer): a script must say `--force`.
 */
export async function confirm(message: string, streams: PromptStreams, forceFlag = '--force'): Promise<boolean> {
  if (streams.input.isTTY !== true)
    throw new ConfirmationRequiredError(
      `stdin is not a terminal, so nobody can confirm: pass ${forceFlag} to go ahead`,
    );
  streams.output.write(`${message} [y/N] `);
  const lines = createInterface({ input: streams.input, terminal: false });
  try {
    const answer = await new Promise<string | undefined>((resolve) => {
      lines.once('line', resolve);
      lines.once('close', () => resolve(undefined));
    });
    return answer?.toLowerCase() === 'y';
  } finally {
    lines.close();
  }
}
