/**
 * The statistics the drift detectors rest on, each reproducing its scipy counterpart: the chi-squared test of
 * independence on a contingency table (`chi2Contingency`) and the two-sample
 * Kolmogorov-Smirnov test (`ks2samp`) with the distributions behind its p-values (`kstwoSf`, `smirnovSf`).
 */
export { type Chi2Result, ContingencyTableError, chi2Contingency, chi2Sf } from './chi2.ts';
export { type KsMethod, type KsResult, ks2samp, ks2sampSorted, ksPValue, ksStatisticSorted, sortedCopy } from './ks.ts';
export { kstwoSf } from './kstwo.ts';
export { roundHalfEven } from './numeric.ts';
export { smirnovSf } from './smirnov.ts';
