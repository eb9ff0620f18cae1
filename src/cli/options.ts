import { Option } from 'commander';

/** `--format`: the human form (`table` or `text`) or `json`; commander rejects anything else. */
export const formatOption = (human: 'table' | 'text') =>
  new Option('--format <format>', `${human} or json`).choices([human, 'json']).default(human);

/** `--root`: the cache root every command works on. */
export const rootOption = () => new Option('--root <dir>', 'cache root').default('./.cachekit');
