/**
 * The record machine's transitions only a registry import reaches (the lazy states): the kit's
 * coverage run has no registry and must miss exactly these; test/exchange/failures.test.ts takes each.
 */
export const LAZY_TRANSITIONS = [
  'pulling --io--> committed.held',
  'pulling --io--> committed.released',
  'pulling --io--> remote.held',
  'pulling --io--> remote.released',
  'remote.held --PULL--> pulling',
  'remote.held --RELEASE--> remote.released',
  'remote.released --ACQUIRE--> remote.held',
  'remote.released --PULL--> pulling',
  'remote.released --REMOVE--> removing',
];
