/**
 * The statistics the drift detectors rest on, each reproducing its scipy counterpart: the two-sample
 * Kolmogorov-Smirnov test (`ks2samp`) with the distributions behind its p-values (`kstwoSf`, `smirnovSf`).
 */
export { type KsMethod, type KsResult, ks2samp, ks2sampSorted, ksPValue, ksStatisticSorted, sortedCopy } from './ks.ts';
export { kstwoSf } from './kstwo.ts';
export { roundHalfEven } from './numeric.ts';
export { smirnovSf } from './smirnov.ts';
